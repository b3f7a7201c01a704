/*
 * process.c - the process_* families every Prometheus client library exports, read from
 * /proc at scrape time (the names and units of the Go client that daprd embeds).
 */
#include "diag/process.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* utime, stime (ticks), starttime (ticks since boot), vsize (bytes), rss (pages) from
 * /proc/self/stat. The command name may hold spaces and parentheses: parse after the last ')'. */
static int read_stat(unsigned long long *utime, unsigned long long *stime, unsigned long long *start,
                     unsigned long long *vsize, long long *rss)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* fields after the name: 3 state ... 14 utime 15 stime ... 22 starttime 23 vsize 24 rss */
    int k = sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
                   utime, stime, start, vsize, rss);
    return k == 5 ? 0 : -1;
}

static long long boot_time(void)
{
    char line[256];
    long long bt = -1;
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* the directory stream's own fd */
}

static void family(base_buf_t *o, const char *name, const char *type, const char *help)
{
    base_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void diag_process_collector(base_buf_t *o, void *ctx)
{
    (void)ctx;
    unsigned long long ut, st, start, vsize;
    long long rss;
    double tick = (double)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (read_stat(&ut, &st, &start, &vsize, &rss) == 0 && tick > 0) {
        family(o, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
        base_buf_printf(o, "process_cpu_seconds_total %.2f\n", (double)(ut + st) / tick);
        family(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        base_buf_printf(o, "process_resident_memory_bytes %lld\n", rss * page);
        family(o, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        base_buf_printf(o, "process_virtual_memory_bytes %llu\n", vsize);
        long long bt = boot_time();
        if (bt > 0) {
            family(o, "process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in seconds.");
            base_buf_printf(o, "process_start_time_seconds %.2f\n", (double)bt + (double)start / tick);
        }
    }
    long fds = open_fds();
    if (fds >= 0) {
        family(o, "process_open_fds", "gauge", "Number of open file descriptors.");
        base_buf_printf(o, "process_open_fds %ld\n", fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        family(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        base_buf_printf(o, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
}
