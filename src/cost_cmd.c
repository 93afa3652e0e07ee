/* cost_cmd.c - `lpt cost --model M --precision P`: the cost model of hwsim/cost.h for
 * one training step of a network, per layer, with the ratios to the same network in
 * fp32 (docs/cost-model.md). */
#include "src/cost_cmd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hwsim/cost.h"
#include "src/args.h"
#include "src/net.h"
#include "src/precision.h"
#include "src/base/util.h"

lpt_cost_layer *lpt_net_cost_layers(const lpt_net *net) {
    lpt_cost_layer *cl = lpt_xcalloc((size_t)net->nlayers, sizeof *cl);
    for (int i = 0; i < net->nlayers; i++) {
        lpt_layer *l = &net->layers[i];
        lpt_cost_layer *c = &cl[i];
        c->name = l->name;
        c->in = lpt_shape_count(&l->in) / (size_t)l->in.dim[0];
        c->out = lpt_shape_count(&l->out) / (size_t)l->out.dim[0];
        c->first = i == 0;
        c->weighted = strcmp(l->ops->type, "conv2d") == 0 || strcmp(l->ops->type, "linear") == 0;
        c->view = strcmp(l->ops->type, "flatten") == 0;
        const int np = l->ops->params(l, NULL);
        lpt_param *p = np ? lpt_xcalloc((size_t)np, sizeof *p) : NULL;
        if (np) l->ops->params(l, p);
        for (int k = 0; k < np; k++) {
            const size_t n = lpt_tensor_count(p[k].value);
            c->params += n;
            const char *dot = strrchr(p[k].name, '.');
            if (dot && strcmp(dot, ".weight") == 0) c->weights = n;
        }
        free(p);
        /* each output value is one dot product over weights / output channels */
        if (c->weighted && l->out.dim[1] > 0) c->macs = c->out * (c->weights / (size_t)l->out.dim[1]);
    }
    return cl;
}

static void print_row(const char *name, const lpt_cost *c, int json, const char *prec) {
    if (json)
        printf("{\"precision\": \"%s\", \"layer\": \"%s\", \"macs\": %.0f, \"mac_uj\": %.4f, \"dram_bytes\": %.0f, "
               "\"buffer_bytes\": %.0f, \"mem_uj\": %.4f, \"total_uj\": %.4f}\n",
               prec, name, c->macs, c->e_mac * 1e-6, c->dram_bytes, c->sram_bytes, c->e_mem * 1e-6,
               (c->e_mac + c->e_mem) * 1e-6);
    else
        printf("  %-10s %10.3f %11.2f %10.3f %10.3f %11.2f %11.2f\n", name, c->macs * 1e-6, c->e_mac * 1e-6,
               c->dram_bytes / (1 << 20), c->sram_bytes / (1 << 20), c->e_mem * 1e-6, (c->e_mac + c->e_mem) * 1e-6);
}

/* the whole network's step in one precision; per-layer rows when `rows` */
static lpt_cost cost_net(const lpt_cost_setup *s, const lpt_energy_table *t, const lpt_cost_layer *cl, int nl,
                         int rows, int json, const char *prec) {
    lpt_cost sum = {0}, one;
    for (int i = 0; i < nl; i++) {
        lpt_cost_layer_step(s, t, &cl[i], &one, &sum);
        if (rows) print_row(cl[i].name, &one, json, prec);
    }
    if (rows) print_row("total", &sum, json, prec);
    return sum;
}

/* --precision: one format per role; auto at the widest widths it may choose */
static int cost_precision(const char *name, lpt_precision *p) {
    if (strcmp(name, "auto") == 0) return lpt_precision_parse("w=dfp8,a=dfp8,g=dfp8:sr", p);
    return lpt_precision_parse(name, p);
}

/* a / b as "0.277x", or "n/a" where fp32 costs nothing (a table of zeros) */
static const char *ratio(double a, double b, char *buf, size_t n) {
    if (b > 0 && isfinite(a / b))
        snprintf(buf, n, "%.3fx", a / b);
    else
        snprintf(buf, n, "n/a");
    return buf;
}

static void print_summary(const lpt_cost_setup *s, const lpt_cost *q, const lpt_cost *f, const char *precision) {
    char fw[64], fg[64], fx[64], r[4][16];
    lpt_cost_mac_pj(&(lpt_energy_table){0}, &s->prec.a, &s->prec.w, s->acc_bits, fw, sizeof fw);
    lpt_cost_mac_pj(&(lpt_energy_table){0}, &s->prec.g, &s->prec.w, s->acc_bits, fg, sizeof fg);
    lpt_cost_mac_pj(&(lpt_energy_table){0}, &s->prec.g, &s->prec.a, s->acc_bits, fx, sizeof fx);
    printf("products: forward %s; dX %s; dW %s\n", fw, fg, fx);
    printf("against fp32: MAC energy %s, DRAM bytes %s, memory energy %s, total energy %s (%s)\n",
           ratio(q->e_mac, f->e_mac, r[0], 16), ratio(q->dram_bytes, f->dram_bytes, r[1], 16),
           ratio(q->e_mem, f->e_mem, r[2], 16), ratio(q->e_mac + q->e_mem, f->e_mac + f->e_mem, r[3], 16), precision);
}

int lpt_cost_main(int argc, char **argv) {
    char model[512] = "lenet5", precision[64] = "int8-dyn", energy[512] = "";
    int batch = 64, buffer_kib = 512, acc_bits = 0, json = 0;
    lpt_opt o[] = {
        {"model", LPT_OPT_STR, model, sizeof model, 0, 0, "NAME|FILE", "model [lenet5]", 0},
        {"precision", LPT_OPT_STR, precision, sizeof precision, 0, 0, "FMT", "training precision, as lpt train's [int8-dyn]", 0},
        {"batch", LPT_OPT_INT, &batch, 0, 1, 65536, "N", "items per training step [64]", 0},
        {"buffer-kib", LPT_OPT_INT, &buffer_kib, 0, 1, 1 << 30, "N", "on-chip buffer between DRAM and the arithmetic [512]", 0},
        {"acc-bits", LPT_OPT_INT, &acc_bits, 0, 8, 64, "N", "dfp accumulator width [32 for dfp8, 48 above]", 0},
        {"energy", LPT_OPT_STR, energy, sizeof energy, 0, 0, "FILE", "energy table, lines 'name picojoules' [Horowitz 2014, 45 nm]", 0},
        {"json", LPT_OPT_FLAG, &json, 0, 0, 0, NULL, "one JSON line per layer and total", 0},
    };
    int rc = lpt_args_parse("cost", "[options]", o, (int)(sizeof o / sizeof o[0]), argc, argv, 2, NULL, 0, NULL);
    if (rc == 1) return 0;
    if (rc) return rc;
    lpt_cost_setup s = {.acc_bits = acc_bits, .batch = batch, .buffer_bytes = (size_t)buffer_kib << 10};
    lpt_cost_setup f32 = s;
    lpt_energy_table t;
    lpt_energy_default(&t);
    if (energy[0] && lpt_energy_load(energy, &t)) {
        fprintf(stderr, "lpt cost: --energy: %s\n", lpt_error_get());
        return 2;
    }
    if (cost_precision(precision, &s.prec) || lpt_precision_parse("fp32", &f32.prec)) {
        fprintf(stderr, "lpt cost: --precision: %s; also auto\n", lpt_error_get());
        return 2;
    }
    lpt_model_spec spec;
    if (lpt_model_spec_load(model, &spec)) {
        fprintf(stderr, "lpt cost: --model: %s\n", lpt_error_get());
        return 2;
    }
    lpt_backend *be = lpt_backend_create("ref", 1);
    lpt_net net;
    if (lpt_net_build(&net, be, &spec, 1)) {
        fprintf(stderr, "lpt cost: --model: %s\n", lpt_error_get());
        lpt_model_spec_free(&spec);
        lpt_backend_destroy(be);
        return 2;
    }
    lpt_cost_layer *cl = lpt_net_cost_layers(&net);
    if (!json) {
        printf("lpt cost: %s, %s%s, batch %d, buffer %d KiB: one training step\n", model, precision,
               strcmp(precision, "auto") == 0 ? " (at its widest choice: w, a, g dfp8)" : "", batch, buffer_kib);
        printf("  %-10s %10s %11s %10s %10s %11s %11s\n", "layer", "MACs (M)", "MAC uJ", "DRAM MiB", "buffer MiB",
               "memory uJ", "total uJ");
    }
    const lpt_cost q = cost_net(&s, &t, cl, net.nlayers, 1, json, precision);
    const lpt_cost f = cost_net(&f32, &t, cl, net.nlayers, json, json, "fp32");
    if (!json) print_summary(&s, &q, &f, precision);
    free(cl);
    lpt_net_free(&net);
    lpt_backend_destroy(be);
    lpt_model_spec_free(&spec);
    return 0;
}

/* the format of a layer's tensor in the statistics unit, or NULL */
static const lpt_qformat *entry_fmt(const lpt_stats_unit *u, const char *layer, const char *tensor) {
    for (int i = 0; i < u->n; i++)
        if (strcmp(u->e[i].layer, layer) == 0 && strcmp(u->e[i].tensor, tensor) == 0) return &u->e[i].fmt;
    return NULL;
}

void lpt_train_cost(const lpt_net *net, const lpt_prec *p, int batch, double out[4]) {
    lpt_energy_table t;
    lpt_energy_default(&t);
    lpt_cost_setup s = {.acc_bits = p->active ? p->q.acc_bits : 0, .batch = batch, .buffer_bytes = 512 << 10};
    lpt_cost_setup f32 = s;
    if (lpt_precision_parse("fp32", &f32.prec)) return;
    s.prec = p->active ? p->q.prec : f32.prec;
    lpt_cost_layer *cl = lpt_net_cost_layers(net);
    lpt_precision *lp = lpt_xcalloc((size_t)net->nlayers, sizeof *lp);
    /* each layer's formats as configured now; a layer without quantization points holds
     * the output of the weighted layer before it and the gradient of the one after it */
    const lpt_qformat *y_before = NULL, *dx_after = NULL;
    for (int i = 0; i < net->nlayers && p->active; i++) {
        const lpt_qformat *w = entry_fmt(&p->stats, cl[i].name, "w"), *x = entry_fmt(&p->stats, cl[i].name, "x");
        lp[i] = s.prec;
        if (w) lp[i].w = *w;
        if (x) lp[i].a = *x;
        else if (y_before) lp[i].a = *y_before;
        const lpt_qformat *y = entry_fmt(&p->stats, cl[i].name, "y");
        if (y) y_before = y;
        cl[i].prec = &lp[i];
    }
    for (int i = net->nlayers - 1; i >= 0 && p->active; i--) {
        const lpt_qformat *dy = entry_fmt(&p->stats, cl[i].name, "dy"), *dx = entry_fmt(&p->stats, cl[i].name, "dx");
        if (dy) lp[i].g = *dy;
        else if (dx_after) lp[i].g = *dx_after;
        if (dx) dx_after = dx;
    }
    lpt_cost q = {0}, f = {0}, one;
    for (int i = 0; i < net->nlayers; i++) lpt_cost_layer_step(&s, &t, &cl[i], &one, &q);
    for (int i = 0; i < net->nlayers; i++) {
        cl[i].prec = NULL;
        lpt_cost_layer_step(&f32, &t, &cl[i], &one, &f);
    }
    const double eq = q.e_mac + q.e_mem, ef = f.e_mac + f.e_mem;
    out[0] = eq * 1e-9;
    out[1] = q.dram_bytes / (1 << 20);
    out[2] = ef > 0 ? eq / ef : 0;
    out[3] = f.dram_bytes > 0 ? q.dram_bytes / f.dram_bytes : 0;
    free(lp);
    free(cl);
}

void lpt_train_print_cost(const lpt_net *net, const lpt_prec *p, const char *precision, int batch) {
    double c[4];
    lpt_train_cost(net, p, batch, c);
    printf("cost model (lpt cost, docs/cost-model.md): per training step of %d, %.4g mJ and %.4g MiB of DRAM "
           "traffic in %s%s, %.3fx and %.3fx fp32's\n",
           batch, c[0], c[1], precision,
           strcmp(precision, "auto") == 0 ? " (each layer at the widths configured last)" : "", c[2], c[3]);
}
