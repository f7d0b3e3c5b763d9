// The instruction-set cap: SPECDISTILL_ISA=portable|avx2|avx512|amx limits every kernel family to
// that level (benchmarks compare paths in one run; tests reach each path with the `_with` entries).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "CKernels.h"
#include "QuantKernels.h"
#if defined(__x86_64__)
#include <cpuid.h>
#endif

int sd_isa_cap(void) {
    static int cap = -2;
    if (cap == -2) {
        const char *v = getenv("SPECDISTILL_ISA");
        cap = 99;
        if (v && *v) {
            if (!strcmp(v, "portable")) cap = 0;
            else if (!strcmp(v, "avx2")) cap = 1;
            else if (!strcmp(v, "avx512")) cap = 2;
            else if (!strcmp(v, "amx")) cap = 3;
            else fprintf(stderr, "specdistill: SPECDISTILL_ISA=%s is not one of portable, avx2, avx512, amx; ignored\n", v);
        }
    }
    return cap;
}

int sd_cpu_has_avx512_core(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

int sd_cpu_has_avx2_fma(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int sd_x8_pairs_preferred(void) {
    static int pref = -1;
    if (pref < 0) {
        const char *v = getenv("SPECDISTILL_X16");
        if (v && (!strcmp(v, "0") || !strcmp(v, "1"))) pref = v[0] == '1';
        else {
            if (v && *v) fprintf(stderr, "specdistill: SPECDISTILL_X16=%s is not 0 or 1; ignored\n", v);
            pref = 1;
#if defined(__x86_64__)
            unsigned a, b, c, d;
            if (__get_cpuid(0, &a, &b, &c, &d) && b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163 &&   // "AuthenticAMD"
                __get_cpuid(1, &a, &b, &c, &d)) {
                const unsigned family = ((a >> 8) & 0xF) + (((a >> 8) & 0xF) == 0xF ? (a >> 20) & 0xFF : 0);
                if (family == 0x19) pref = 0;   // Zen 3 (no AVX-512, never asked) and Zen 4
            }
#endif
        }
    }
    return pref;
}

int sd_x8_avx_vnni_preferred(void) {
    static int pref = -1;
    if (pref < 0) {
        pref = 0;
#if defined(__x86_64__)
        unsigned a, b, c, d;
        if (sd_cpu_has_avx2_fma() && __get_cpuid_count(7, 1, &a, &b, &c, &d)) pref = (a >> 4) & 1;
#endif
        const char *v = getenv("SPECDISTILL_AVXVNNI");
        if (v && !strcmp(v, "0")) pref = 0;
        else if (v && *v && strcmp(v, "1")) fprintf(stderr, "specdistill: SPECDISTILL_AVXVNNI=%s is not 0 or 1; ignored\n", v);
    }
    return pref;
}

// Read by the kernels' prefetches (QuantInternal.h).
int sd_x8_pf_l2 = 0;
// SPECDISTILL_PREFETCH: -1 not read yet, -2 unset (or not l1/l2), 0 l1, 1 l2.
static int sd_x8_pf_forced = -1;

static void sd_x8_read_prefetch_override(void) {
    if (sd_x8_pf_forced != -1) return;
    const char *v = getenv("SPECDISTILL_PREFETCH");
    sd_x8_pf_forced = -2;
    if (v && !strcmp(v, "l1")) sd_x8_pf_forced = 0;
    else if (v && !strcmp(v, "l2")) sd_x8_pf_forced = 1;
    else if (v && *v) fprintf(stderr, "specdistill: SPECDISTILL_PREFETCH=%s is not l1 or l2; ignored\n", v);
    if (sd_x8_pf_forced >= 0) sd_x8_pf_l2 = sd_x8_pf_forced;
}

void sd_x8_set_prefetch_l2(int on) {
    sd_x8_read_prefetch_override();
    sd_x8_pf_l2 = sd_x8_pf_forced >= 0 ? sd_x8_pf_forced : on != 0;
}

int sd_x8_prefetch_l2(void) {
    sd_x8_read_prefetch_override();
    return sd_x8_pf_l2;
}

long sd_cache_size_parse(const char *text) {
    char *end = 0;
    const long n = strtol(text, &end, 10);
    if (end == text || n <= 0) return -1;
    while (*end == ' ') end++;
    long unit = 1;
    if (*end == 'K' || *end == 'k') unit = 1L << 10, end++;
    else if (*end == 'M' || *end == 'm') unit = 1L << 20, end++;
    else if (*end == 'G' || *end == 'g') unit = 1L << 30, end++;
    while (*end == ' ' || *end == '\n') end++;
    return *end ? -1 : n * unit;
}

// The first line of DIR/NAME into buf (newline kept); 0 when the file cannot be read.
static int sd_read_line(const char *dir, const char *name, char *buf, int size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    const int ok = fgets(buf, size, f) != 0;
    fclose(f);
    return ok;
}

long sd_llc_bytes_in(const char *cache_dir) {
    long best = -1;
    int best_level = 0;
    for (int i = 0; i < 16; i++) {
        char dir[400], level[32], type[32], size[64];
        snprintf(dir, sizeof dir, "%s/index%d", cache_dir, i);
        if (!sd_read_line(dir, "level", level, sizeof level) || !sd_read_line(dir, "type", type, sizeof type) ||
            !sd_read_line(dir, "size", size, sizeof size)) continue;
        if (strncmp(type, "Data", 4) && strncmp(type, "Unified", 7)) continue;   // not Instruction
        const int l = atoi(level);
        const long n = sd_cache_size_parse(size);
        if (n > 0 && (l > best_level || (l == best_level && n > best))) best = n, best_level = l;
    }
    return best;
}

long sd_llc_bytes(void) {
    static long cached = 0;
    if (cached) return cached;
    long n = sd_llc_bytes_in("/sys/devices/system/cpu/cpu0/cache");
#if defined(_SC_LEVEL3_CACHE_SIZE)
    if (n <= 0) n = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (n <= 0) n = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    cached = n > 0 ? n : 32L << 20;
    return cached;
}
