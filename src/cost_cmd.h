/* cost_cmd.h - `lpt cost`: what one training step costs an accelerator (hwsim/cost.h). */
#ifndef LPT_COST_CMD_H
#define LPT_COST_CMD_H

#include "hwsim/cost.h"
#include "src/net.h"
#include "src/precision.h"

int lpt_cost_main(int argc, char **argv);
/* The layers of a built net as the cost model sees them (per item; malloc'd). */
lpt_cost_layer *lpt_net_cost_layers(const lpt_net *net);
/* One line for a training run's summary: the cost of a step of `batch` in the run's
 * precision (each layer at the formats its quantization points have now) and its
 * ratios to fp32. */
void lpt_train_print_cost(const lpt_net *net, const lpt_prec *p, const char *precision, int batch);
/* The same step's figures: out[0] mJ, out[1] MiB of DRAM traffic, out[2] energy / fp32's,
 * out[3] DRAM bytes / fp32's (out[2], out[3]: 0 where fp32's is zero). */
void lpt_train_cost(const lpt_net *net, const lpt_prec *p, int batch, double out[4]);

#endif
