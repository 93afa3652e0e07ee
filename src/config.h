/* config.h - the configuration of a run: what `lpt train` takes on the command line, a
 * checkpoint stores, and the session and the training step read. */
#ifndef LPT_CONFIG_H
#define LPT_CONFIG_H

#include <stdint.h>

#include "src/args.h"
#include "src/base/util.h"
#include "src/optim.h"

typedef struct lpt_train_cfg {
    char model[512];
    char data[512];
    char precision[32];
    char backend[16];
    int epochs, batch, threads;
    int device;           /* GPU backends: the device's index */
    int tf32;             /* GPU backends: fp32 GEMMs may use TF32 Tensor Cores */
    char cuda_graph[4];   /* GPU backends: "on" records the training step once and replays it */
    char share_cores[4];  /* CPU: "on" runs fewer workers while other processes keep cores busy */
    char memory_plan[4];  /* "on": work tensors share memory where their lifetimes allow (net.h) */
    char overlap[4];      /* data parallel: "on" exchanges each layer's gradients during the backward pass */
    char grad_exchange[8]; /* data parallel: the gradients' format on the wire (fp32, fp16, bf16, dfp8, dfp16) */
    char dp_timeline[512]; /* data parallel: a timeline of global step dp_timeline_step into this CSV file */
    long dp_timeline_step;
    int exchange_chunk;   /* data parallel: KiB on the wire a chunk of a parameter's exchange (0: one chunk) */
    int read_every;       /* steps per read of the step's results (src/step.h); 0: the backend's choice */
    lpt_sgd_cfg sgd;
    uint64_t seed;
    char metrics_out[512];
    char checkpoint[512];
    char resume[512];
    long max_steps;    /* stop (with a checkpoint) once the global step reaches this; 0: off */
    int train_limit;   /* use the first N training images (0: all) */
    int test_limit;    /* use the first N test images (0: all) */
    int progress;      /* 1 on a terminal: one refreshed line; 0: plain lines */
    int quiet;         /* only errors and the final line */
    /* low precision (docs/training.md) */
    char rounding[8];     /* override of every role's rounding ("" keeps the formats') */
    float overflow_rate;  /* target of the FL rule */
    float underflow_rate; /* auto: target of the width rule */
    int stats_interval;   /* steps between configurations */
    int acc_bits;         /* 0: 32 for dfp8, 48 for dfp16 */
    int recompute;        /* recompute outputs whose overflow beats the prediction (default on) */
    char stats_out[512];  /* JSON Lines, one record per interval, layer and tensor */
    /* dead-run detection (src/health.h, and the statistics unit's dead tensors) */
    int dead_steps;       /* window of the checks, in steps (0: off) */
    int fail_on_dead;     /* a dead run stops with exit status 1 instead of a warning */
    /* tools for hardware architects (docs/golden.md, docs/training.md "FP32 shadow") */
    char golden_layer[32]; /* write golden vectors of this layer ... */
    long golden_step;      /* ... at this global step (0: the run's first step after calibration) */
    char golden_out[512];  /* ... into this folder */
    int golden_only;       /* lpt golden: stop after writing them, writing nothing else */
    int shadow_interval;   /* every N steps, compare with an FP32 copy of the network (0: off) */
    int shards;            /* the batch runs as this many shards, gradients summed in a fixed tree (0, 1: one pass) */
} lpt_train_cfg;

/* The defaults of every field (the command line's [defaults]). */
void lpt_train_cfg_defaults(lpt_train_cfg *c);

/* The one table of the run configuration's fields: each field's command-line option,
 * checkpoint key, range and role. `lpt train` builds its options from it, checkpoints
 * save and load it (in its order), and --resume refuses the fields a checkpoint fixes. */
typedef enum {
    LPT_CF_STR,      /* char[cap] */
    LPT_CF_INT,      /* int */
    LPT_CF_LONG,     /* long */
    LPT_CF_U64,      /* uint64_t */
    LPT_CF_FLOAT,    /* float */
    LPT_CF_SCHED,    /* lpt_sched, by name */
    LPT_CF_FLAG,     /* int set to 1 by the option */
    LPT_CF_FLAG_OFF, /* int set to 0 by the option (saved as 0/1) */
} lpt_cf_kind;

enum {
    LPT_CK_NONE = 0,     /* not in checkpoints */
    LPT_CK_REQUIRED = 1, /* in every checkpoint */
    LPT_CK_OPTIONAL = 2, /* absent from checkpoints of earlier builds: the default stays */
    LPT_CK_ABSENT_ZERO = 3, /* absent from earlier checkpoints, meaning 0 (a feature they lacked) */
};

typedef struct {
    const char *option; /* command-line option, without "--" (NULL: none) */
    const char *key;    /* checkpoint key (NULL: not saved) */
    lpt_cf_kind kind;
    size_t offset, cap; /* in lpt_train_cfg; cap for strings */
    double lo, hi;      /* range of numbers */
    int ckpt;           /* LPT_CK_* */
    int zero_ok;        /* 0 is also valid (default or off) besides [lo, hi] */
    int fixed;          /* a checkpoint fixes it: refused together with --resume */
    const char *metavar, *help;
} lpt_cfg_field;

extern const lpt_cfg_field lpt_cfg_fields[];
extern const int lpt_cfg_nfields;
/* Where field f lives in c. */
static inline void *lpt_cfg_at(lpt_train_cfg *c, const lpt_cfg_field *f) { return (char *)c + f->offset; }
static inline const void *lpt_cfg_cat(const lpt_train_cfg *c, const lpt_cfg_field *f) {
    return (const char *)c + f->offset;
}

/* The `lpt train` options, from the table. */
#define LPT_CFG_MAX_FIELDS 48
typedef struct {
    lpt_opt o[LPT_CFG_MAX_FIELDS];
    int n;
    int off[LPT_CFG_MAX_FIELDS]; /* flags that clear their field */
    char sched[16];              /* the schedule by name */
    lpt_train_cfg *cfg;
} lpt_cfg_cli;
/* Options writing into cfg (which holds the defaults). */
void lpt_cfg_cli_init(lpt_cfg_cli *cli, lpt_train_cfg *cfg);
/* After parsing: the flags and the schedule applied; 0, or -1 with an error. */
int lpt_cfg_cli_finish(lpt_cfg_cli *cli);
/* The first option given that a checkpoint fixes (NULL: none), for --resume. */
const char *lpt_cfg_cli_fixed_given(const lpt_cfg_cli *cli);
/* The checkpoint's configuration section: key=value lines in table order. */
void lpt_cfg_save(const lpt_train_cfg *c, lpt_buf *out);

#endif
