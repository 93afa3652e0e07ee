/* report.h - lpt report (docs/report.md): a Markdown report and an HTML page with plots
 * of one training run's folder (metrics, statistics log with its FP32-shadow records,
 * log) or of a sweep's folder (its table and plots). */
#ifndef LPT_REPORT_H
#define LPT_REPORT_H

#include "src/base/util.h"

int lpt_report_main(int argc, char **argv);

/* A document written as Markdown and as HTML at once. */
typedef struct {
    lpt_buf md, html;
} lpt_doc;

void lpt_doc_begin(lpt_doc *d, const char *title);
void lpt_doc_heading(lpt_doc *d, int level, const char *text);
void lpt_doc_para(lpt_doc *d, const char *text); /* plain text, escaped */
void lpt_doc_code(lpt_doc *d, const char *text); /* a preformatted block */
/* a table row; the first row given is the header */
void lpt_doc_row(lpt_doc *d, int ncols, const char *const *cells, int header);
void lpt_doc_table_end(lpt_doc *d);
void lpt_doc_image(lpt_doc *d, const char *file, const char *alt);
/* report.md and report.html into dir: 0 or -1 with an error */
int lpt_doc_write(lpt_doc *d, const char *dir);

/* The run in `dir` into `out` (report.md, report.html, plots): 0, 1 when the folder holds
 * no run (nothing written), -1 with an error. */
int lpt_report_run(const char *dir, const char *out);

#endif
