/* quantize_cmd.h - `lpt quantize`: apply a number format to a tensor in an .npy file. */
#ifndef LPT_QUANTIZE_CMD_H
#define LPT_QUANTIZE_CMD_H

int lpt_quantize_main(int argc, char **argv);

#endif
