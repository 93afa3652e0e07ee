/* cost_cmd.h - `lpt cost`: what one training step costs an accelerator (hwsim/cost.h). */
#ifndef LPT_COST_CMD_H
#define LPT_COST_CMD_H

int lpt_cost_main(int argc, char **argv);

#endif
