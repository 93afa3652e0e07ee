/* layers.h - constructors of the built-in layer types (see registry.c). */
#ifndef LPT_LAYERS_H
#define LPT_LAYERS_H

#include "src/layer.h"

int lpt_conv2d_create(lpt_layer_args *a, lpt_layer *l);
int lpt_linear_create(lpt_layer_args *a, lpt_layer *l);
int lpt_relu_create(lpt_layer_args *a, lpt_layer *l);
int lpt_maxpool_create(lpt_layer_args *a, lpt_layer *l);
int lpt_avgpool_create(lpt_layer_args *a, lpt_layer *l);
int lpt_flatten_create(lpt_layer_args *a, lpt_layer *l);
int lpt_batchnorm_create(lpt_layer_args *a, lpt_layer *l);
int lpt_dropout_create(lpt_layer_args *a, lpt_layer *l);

#endif
