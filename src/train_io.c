/* train_io.c - the files of a training run besides checkpoints: the metrics file and
 * the statistics log as a resumed run finds it (train.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/train.h"
#include "src/base/util.h"

/* The statistics log at the start of a run: empty, or on resume (steps > 0) only the
 * records of intervals that ended before global step `steps` (and the events before it);
 * rewritten atomically. */
int lpt_train_stats_cut(const char *path, long steps) {
    lpt_buf keep = {0};
    size_t n = 0;
    char *old = steps > 0 && access(path, F_OK) == 0 ? lpt_file_read_all(path, &n) : NULL;
    for (char *l = old; l && l < old + n;) {
        char *end = memchr(l, '\n', (size_t)(old + n - l));
        const size_t len = end ? (size_t)(end - l) + 1 : (size_t)(old + n - l);
        long long step;
        /* a partial interval's records (written when the earlier run ended) are dropped:
         * the resumed run logs the whole interval */
        const int partial = memmem(l, len, "\"partial\": true", 15) != NULL;
        if (sscanf(l, "{\"step\": %lld", &step) == 1 && step < steps && !partial) lpt_buf_put(&keep, l, len);
        l += len;
    }
    int rc = lpt_file_write_atomic(path, keep.data ? (const char *)keep.data : "", keep.len);
    free(old);
    lpt_buf_free(&keep);
    return rc;
}

int lpt_train_metrics_write(const char *path, const lpt_train_state *st) {
    lpt_buf b = {0};
    size_t len = strlen(path);
    int csv = len > 4 && strcmp(path + len - 4, ".csv") == 0;
    if (csv)
        lpt_buf_printf(&b, "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,images_per_s,seconds,"
                           "energy_mj_per_step,dram_mib_per_step,energy_vs_fp32\n");
    for (int i = 0; i < st->nrecords; i++) {
        const lpt_epoch_record *r = &st->records[i];
        if (csv)
            lpt_buf_printf(&b, "%d,%ld,%.9g,%.9g,%.6f,%.9g,%.6f,%.1f,%.3f,%.6g,%.6g,%.4f\n", r->epoch, r->step, r->lr,
                           r->train_loss, r->train_acc, r->test_loss, r->test_acc, r->images_per_s,
                           r->seconds, r->energy_mj, r->dram_mib, r->energy_ratio);
        else
            lpt_buf_printf(&b,
                           "{\"epoch\": %d, \"step\": %ld, \"lr\": %.9g, \"train_loss\": %.9g, "
                           "\"train_acc\": %.6f, \"test_loss\": %.9g, \"test_acc\": %.6f, "
                           "\"images_per_s\": %.1f, \"seconds\": %.3f, \"energy_mj_per_step\": %.6g, "
                           "\"dram_mib_per_step\": %.6g, \"energy_vs_fp32\": %.4f}\n",
                           r->epoch, r->step, r->lr, r->train_loss, r->train_acc, r->test_loss,
                           r->test_acc, r->images_per_s, r->seconds, r->energy_mj, r->dram_mib, r->energy_ratio);
    }
    int rc = lpt_file_write_atomic(path, b.data ? (void *)b.data : (void *)"", b.len);
    lpt_buf_free(&b);
    return rc;
}
