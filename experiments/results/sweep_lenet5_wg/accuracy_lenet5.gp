set title "lenet5: test accuracy against the weights' width"
set xlabel "weight width (bits, dynamic fixed point)"
set ylabel "test accuracy (%): mean over seeds, sd as bars"
set key bottom right
set grid
set xtics 2
set offsets 0.5, 0.5, 0, 0
set terminal png size 900,600
set output "experiments/results/sweep_lenet5_wg/accuracy_lenet5.png"
plot "experiments/results/sweep_lenet5_wg/accuracy_lenet5.dat" index 0 using 1:2:3 with yerrorlines lw 2 title "a dfp8, g dfp8:sr", "experiments/results/sweep_lenet5_wg/accuracy_lenet5.dat" index 1 using 1:2:3 with yerrorlines lw 2 title "a dfp8, g dfp16:sr", 81.7200 with lines dashtype 2 lw 2 title "fp32"
set terminal svg size 900,600
set output "experiments/results/sweep_lenet5_wg/accuracy_lenet5.svg"
plot "experiments/results/sweep_lenet5_wg/accuracy_lenet5.dat" index 0 using 1:2:3 with yerrorlines lw 2 title "a dfp8, g dfp8:sr", "experiments/results/sweep_lenet5_wg/accuracy_lenet5.dat" index 1 using 1:2:3 with yerrorlines lw 2 title "a dfp8, g dfp16:sr", 81.7200 with lines dashtype 2 lw 2 title "fp32"
