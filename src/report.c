/* report.c - lpt report (report.h): the command, the sweep report and the document
 * writer. */
#include "src/report.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/args.h"

/* ---- the document ---- */

static void html_text(lpt_buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '<') lpt_buf_printf(b, "&lt;");
        else if (*s == '>') lpt_buf_printf(b, "&gt;");
        else if (*s == '&') lpt_buf_printf(b, "&amp;");
        else if (*s == '"') lpt_buf_printf(b, "&quot;");
        else lpt_buf_put(b, s, 1);
    }
}

/* Markdown: characters that would format are escaped */
static void md_text(lpt_buf *b, const char *s) {
    for (; *s; s++) {
        if (strchr("\\`*_[]|<>#", *s)) lpt_buf_put(b, "\\", 1);
        lpt_buf_put(b, s, 1);
    }
}

void lpt_doc_begin(lpt_doc *d, const char *title) {
    memset(d, 0, sizeof *d);
    lpt_buf_printf(&d->html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    html_text(&d->html, title);
    lpt_buf_printf(&d->html, "</title>\n<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
                             "table{border-collapse:collapse}td,th{border:1px solid #aaa;padding:2px 6px;"
                             "text-align:right}img{max-width:100%%}</style></head><body>\n");
    lpt_doc_heading(d, 1, title);
}

void lpt_doc_heading(lpt_doc *d, int level, const char *text) {
    lpt_buf_printf(&d->md, "%.*s ", level, "######");
    md_text(&d->md, text);
    lpt_buf_printf(&d->md, "\n\n");
    lpt_buf_printf(&d->html, "<h%d>", level);
    html_text(&d->html, text);
    lpt_buf_printf(&d->html, "</h%d>\n", level);
}

void lpt_doc_para(lpt_doc *d, const char *text) {
    md_text(&d->md, text);
    lpt_buf_printf(&d->md, "\n\n");
    lpt_buf_printf(&d->html, "<p>");
    html_text(&d->html, text);
    lpt_buf_printf(&d->html, "</p>\n");
}

void lpt_doc_code(lpt_doc *d, const char *text) {
    lpt_buf_printf(&d->md, "```\n%s%s```\n\n", text, text[0] && text[strlen(text) - 1] != '\n' ? "\n" : "");
    lpt_buf_printf(&d->html, "<pre>");
    html_text(&d->html, text);
    lpt_buf_printf(&d->html, "</pre>\n");
}

void lpt_doc_row(lpt_doc *d, int ncols, const char *const *cells, int header) {
    if (header) lpt_buf_printf(&d->html, "<table>\n");
    lpt_buf_printf(&d->md, "|");
    lpt_buf_printf(&d->html, "<tr>");
    for (int i = 0; i < ncols; i++) {
        lpt_buf_printf(&d->md, " ");
        md_text(&d->md, cells[i]);
        lpt_buf_printf(&d->md, " |");
        lpt_buf_printf(&d->html, header ? "<th>" : "<td>");
        html_text(&d->html, cells[i]);
        lpt_buf_printf(&d->html, header ? "</th>" : "</td>");
    }
    lpt_buf_printf(&d->md, "\n");
    lpt_buf_printf(&d->html, "</tr>\n");
    if (header) {
        lpt_buf_printf(&d->md, "|");
        for (int i = 0; i < ncols; i++) lpt_buf_printf(&d->md, "---|");
        lpt_buf_printf(&d->md, "\n");
    }
}

void lpt_doc_table_end(lpt_doc *d) {
    lpt_buf_printf(&d->md, "\n");
    lpt_buf_printf(&d->html, "</table>\n");
}

void lpt_doc_image(lpt_doc *d, const char *file, const char *alt) {
    lpt_buf_printf(&d->md, "![");
    md_text(&d->md, alt);
    lpt_buf_printf(&d->md, "](%s)\n\n", file);
    lpt_buf_printf(&d->html, "<p><img src=\"");
    html_text(&d->html, file);
    lpt_buf_printf(&d->html, "\" alt=\"");
    html_text(&d->html, alt);
    lpt_buf_printf(&d->html, "\"></p>\n");
}

int lpt_doc_write(lpt_doc *d, const char *dir) {
    char path[1100];
    lpt_buf_printf(&d->html, "</body></html>\n");
    snprintf(path, sizeof path, "%s/report.md", dir);
    int rc = lpt_file_write_atomic(path, d->md.data, d->md.len);
    snprintf(path, sizeof path, "%s/report.html", dir);
    if (!rc) rc = lpt_file_write_atomic(path, d->html.data, d->html.len);
    lpt_buf_free(&d->md);
    lpt_buf_free(&d->html);
    return rc;
}

/* ---- a sweep ---- */

static int exists(const char *dir, const char *file) {
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

/* the sweep's table, its plots (in the sweep folder: linked from out), its points */
static int report_sweep(const char *dir, const char *out, const char *rel) {
    lpt_doc d;
    char line[2048], *cells[16];
    lpt_doc_begin(&d, "lpt sweep report");
    snprintf(line, sizeof line, "Sweep folder: %s. Test accuracy (%%) over seeds per model and precision.", dir);
    lpt_doc_para(&d, line);
    size_t n;
    char path[1100];
    snprintf(path, sizeof path, "%s/settings.txt", dir);
    char *settings = lpt_file_read(path, 1 << 20, &n);
    if (settings) lpt_doc_code(&d, settings), free(settings);
    snprintf(path, sizeof path, "%s/table.csv", dir);
    char *csv = lpt_file_read(path, 1 << 24, &n);
    if (!csv) {
        lpt_buf_free(&d.md), lpt_buf_free(&d.html);
        return -1;
    }
    lpt_doc_heading(&d, 2, "Table");
    int row = 0;
    for (char *l = strtok(csv, "\n"); l; l = strtok(NULL, "\n"), row++) {
        int nc = 0, q = 0;
        cells[nc++] = l;
        for (char *p = l; *p && nc < 16; p++) { /* CSV with quoted fields */
            if (*p == '"') q = !q;
            else if (*p == ',' && !q) *p = 0, cells[nc++] = p + 1;
        }
        for (int i = 0; i < nc; i++)
            if (cells[i][0] == '"') cells[i]++, cells[i][strlen(cells[i]) - 1] = 0;
        lpt_doc_row(&d, nc, (const char *const *)cells, row == 0);
    }
    lpt_doc_table_end(&d);
    free(csv);
    DIR *dd = opendir(dir);
    for (struct dirent *e; dd && (e = readdir(dd));) {
        const size_t len = strlen(e->d_name);
        if (len > 4 && !strncmp(e->d_name, "accuracy_", 9) && !strcmp(e->d_name + len - 4, ".png")) {
            lpt_doc_heading(&d, 2, e->d_name);
            snprintf(line, sizeof line, "%s%s", rel, e->d_name);
            lpt_doc_image(&d, line, "test accuracy against the weights' width");
        }
    }
    if (dd) closedir(dd);
    lpt_doc_para(&d, "Each point's folder (points/) holds its log, metrics and statistics log; "
                     "lpt report on a point's folder reports that run with its plots.");
    return lpt_doc_write(&d, out);
}

int lpt_report_main(int argc, char **argv) {
    char out[900] = "";
    lpt_opt o[] = {{"out", LPT_OPT_STR, out, sizeof out, 0, 0, "DIR", "where the report goes [RUN_OR_SWEEP_DIR/report]", 0}};
    const char *dir = NULL;
    int rc = lpt_args_parse_one("report", "RUN_OR_SWEEP_DIR [--out DIR]", o, 1, argc, argv, 2, &dir);
    if (rc) return rc == 1 ? 0 : rc;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "lpt report: '%s' is not a folder (a training run's or a sweep's)\n", dir);
        return 2;
    }
    if (!out[0]) snprintf(out, sizeof out, "%s/report", dir);
    const int sweep = exists(dir, "table.csv");
    if (sweep && lpt_mkdirs(out)) {
        fprintf(stderr, "lpt report: --out: %s\n", lpt_error_get());
        return 1;
    }
    /* a sweep's images stay in its folder: linked as ../ from its own report folder,
     * else by their absolute path */
    char rel[1100] = "";
    char *rdir = realpath(dir, NULL), *rout = sweep ? realpath(out, NULL) : NULL;
    const size_t nd = rdir ? strlen(rdir) : 0;
    if (rdir && rout && strlen(rout) > nd && !strncmp(rout, rdir, nd) && rout[nd] == '/' && !strchr(rout + nd + 1, '/'))
        snprintf(rel, sizeof rel, "../");
    else
        snprintf(rel, sizeof rel, "%s/", rdir ? rdir : dir);
    free(rdir), free(rout);
    rc = sweep ? report_sweep(dir, out, rel) : lpt_report_run(dir, out);
    if (rc == 1) {
        fprintf(stderr, "lpt report: %s holds no run (no metrics or statistics .jsonl file) and no sweep (table.csv)\n",
                dir);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "lpt report: %s\n", lpt_error_get());
        return 1;
    }
    printf("report written to %s/report.md and %s/report.html\n", out, out);
    return 0;
}
