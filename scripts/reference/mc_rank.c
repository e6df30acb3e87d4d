// A hand-written C reference for RecKit's Monte Carlo rank marginals of Thompson sampling: the
// same work as `recbench mc-rank` (Beta click-rate posteriors, one draw per item and ranking, the
// top-k of each ranking counted per rank), written the way a C programmer would write it for a
// vector unit. scripts/bench-peers builds it with `cc -O3 -march=native` and runs it beside
// recbench on the same policy; peers.py checks its marginals against RecKit's exact ones.
//
// It is RecKit's algorithm (Sources/RecCore/Random/BetaRankSampler.swift) in C, so that the pair
// measures the code, not the method. W rankings at a time, one per lane of the widest register
// (W = 16 with AVX-512, 8 with AVX2; GCC vector extensions):
//   - random bits from two xoshiro256+ streams of W/2 64-bit lanes (one for the normals, one for
//     the acceptance uniforms), each 64-bit output giving two 23-bit uniforms on (0, 1);
//   - standard normals by Box–Muller with a vector log and sincos (Cephes polynomials) and the
//     hardware square root;
//   - Gamma(a) by Marsaglia–Tsang for a ≥ 1: two squeezes (Marsaglia and Tsang's, and the series
//     bound that settles large shapes), the exact test only for a vector a squeeze left, and a
//     masked retry of rejected lanes with fresh draws;
//   - Beta(a, b) = X / (X + Y); an item's parameters are one broadcast value;
//   - each ranking's top k in k vectors of scores and k of items, updated by an insertion network
//     that is skipped when no lane reaches the k-th best.
// Ties between equal draws go to the lower item, and are counted (RecKit ranks a tied ranking
// again with random tie-break keys; at these shapes that is about one ranking in 10⁵).
//
// Usage: mc_rank --policy FILE [--k 3] [--simulations 100000] [--threads 2] [--reps 15]
//                [--seed 1] [--marginals OUT]
//   FILE: one "alpha,beta" line per item (recbench mc-rank --write-policy writes it).
//   Prints "median_ms=… min_ms=… rankings_per_second=…"; OUT gets P(item at rank) as CSV.
#define _GNU_SOURCE
#pragma GCC diagnostic ignored "-Wpsabi"
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

// W lanes: the widest vector register the build targets (16 with AVX-512, 8 with AVX2), as a C
// programmer would choose; GCC lowers wider generic vectors on AVX2 to scalar code in places.
#if defined(__AVX512F__)
#define W 16
#else
#define W 8
#endif
#define FULL ((1u << W) - 1)
typedef float vf __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));
typedef uint32_t vu __attribute__((vector_size(4 * W)));
typedef uint64_t vq __attribute__((vector_size(4 * W)));

#define INLINE static inline __attribute__((always_inline))

INLINE vf sel(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }

// Lane l of the mask → bit l.
INLINE unsigned lanebits(vi m) {
#if defined(__AVX512F__)
    return (unsigned)_mm512_movepi32_mask((__m512i)m);
#elif defined(__AVX2__)
    return (unsigned)_mm256_movemask_ps((__m256)m);
#else
    unsigned r = 0;
    for (int l = 0; l < W; l++) r |= (m[l] != 0) << l;
    return r;
#endif
}

// xoshiro256+ in eight 64-bit lanes.
typedef struct {
    vq s0, s1, s2, s3;
} X8;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void x8_seed(X8 *g, uint64_t seed) {
    uint64_t x = seed;
    for (int l = 0; l < W / 2; l++) {
        g->s0[l] = splitmix64(&x);
        g->s1[l] = splitmix64(&x);
        g->s2[l] = splitmix64(&x);
        g->s3[l] = splitmix64(&x) | 1;
    }
}

INLINE vq x8_next(X8 *g) {
    vq r = g->s0 + g->s3;
    vq t = g->s1 << 17;
    g->s2 ^= g->s0;
    g->s3 ^= g->s1;
    g->s1 ^= g->s2;
    g->s0 ^= g->s3;
    g->s2 ^= t;
    g->s3 = (g->s3 << 45) | (g->s3 >> 19);
    return r;
}

// Sixteen uniforms on (0, 1): the top 23 bits of each 32-bit half, (j + 1/2)·2⁻²³.
INLINE vf x8_uniform(X8 *g) {
    vu m = ((vu)x8_next(g) >> 9) | 0x3F800000u;
    return (vf)m - 0.99999994f;
}

// Natural log for positive normal floats (Cephes logf).
INLINE vf vlog(vf x) {
    vi xb = (vi)x;
    vi e = ((xb >> 23) & 0xFF) - 126;
    vf m = (vf)((xb & 0x007FFFFF) | 0x3F000000);  // [0.5, 1)
    vi small = m < 0.70710678f;
    e = e + small;  // small lanes: e − 1 (mask is −1)
    m = sel(small, m + m, m) - 1.0f;
    vf ef = __builtin_convertvector(e, vf);
    vf z = m * m;
    vf p = (vf){0} + 7.0376836292e-2f;
    p = p * m - 1.1514610310e-1f;
    p = p * m + 1.1676998740e-1f;
    p = p * m - 1.2420140846e-1f;
    p = p * m + 1.4249322787e-1f;
    p = p * m - 1.6668057665e-1f;
    p = p * m + 2.0000714765e-1f;
    p = p * m - 2.4999993993e-1f;
    p = p * m + 3.3333331174e-1f;
    vf y = p * m * z;
    y = y - 0.5f * z;
    return m + y + ef * 0.693147180559945f;
}

// cos 2πu and sin 2πu for u in (0, 1): quadrant reduction, Cephes sinf/cosf on [−π/4, π/4].
INLINE void vsincos2pi(vf u, vf *c, vf *s) {
    vf t = u * 4.0f;
    vf qf = __builtin_convertvector(__builtin_convertvector(t + 0.5f, vi), vf);  // round, t > 0
    vi q = __builtin_convertvector(qf, vi);
    vf f = (t - qf) * 1.57079632679489662f;
    vf z = f * f;
    vf sf = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * f + f;
    vf cf = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
    vi swap = -(q & 1);
    vf a = sel(swap, sf, cf), b = sel(swap, cf, sf);
    vi signc = ((q + 1) & 2) << 30, signs = (q & 2) << 30;
    *c = (vf)((vi)a ^ signc);
    *s = (vf)((vi)b ^ signs);
}

INLINE vf vsqrt(vf x) {
#if defined(__AVX512F__)
    return (vf)_mm512_sqrt_ps((__m512)x);
#elif defined(__AVX__)
    return (vf)_mm256_sqrt_ps((__m256)x);
#else
    for (int i = 0; i < W; i++) x[i] = __builtin_sqrtf(x[i]);
    return x;
#endif
}

INLINE void normals(X8 *g, vf *z1, vf *z2) {
    vf u1 = x8_uniform(g), u2 = x8_uniform(g);
    vf r = vsqrt(-2.0f * vlog(u1));
    vf c, s;
    vsincos2pi(u2, &c, &s);
    *z1 = r * c;
    *z2 = r * s;
}

INLINE vf vabs(vf x) { return (vf)((vi)x & 0x7FFFFFFF); }

// Marsaglia–Tsang for shapes a ≥ 1 (d = a − 1/3, c = 1/√(9d)): a candidate d·(1 + c·x)³ from a
// normal x and a uniform u, and the lanes two squeezes accept: Marsaglia and Tsang's
// u < 1 − 0.0331·x⁴, and for |t| = |c·x| < 1/4, u − 1 < −x⁴/(27d)·(1/4 + 0.2667·|t|) (log u ≤ u − 1
// and the series of the exact test's right side, −3d·t⁴·(1/4 − t/5 + t²/6 − …)).
typedef struct {
    float d, c, e0, e1;
} Shape;

INLINE vf candidate(Shape g, vf x, vf u, vi *ok) {
    vf t = g.c * x;
    vf v0 = 1.0f + t;
    vf x4 = (x * x) * (x * x);
    vf at = vabs(t);
    vi mt = u < 1.0f - 0.0331f * x4;
    vi series = (at < 0.25f) & (1.0f - u > x4 * (g.e0 + g.e1 * at));
    *ok = (v0 > 0.0f) & (mt | series);
    return g.d * (v0 * v0 * v0);
}

// The exact test log u < x²/2 + d(1 − v + log v), its right side by the series where |t| < 1/4.
INLINE vi exact_test(Shape g, vf x, vf u) {
    vf t = g.c * x;
    vf v0 = 1.0f + t;
    vi pos = v0 > 0.0f;
    vf v = sel(pos, v0 * v0 * v0, (vf){0} + 1.0f);
    vf sr = (vf){0} - 1.0f / 11;
    sr = sr * t + 1.0f / 10;
    sr = sr * t - 1.0f / 9;
    sr = sr * t + 1.0f / 8;
    sr = sr * t - 1.0f / 7;
    sr = sr * t + 1.0f / 6;
    sr = sr * t - 1.0f / 5;
    sr = sr * t + 1.0f / 4;
    vf series = -3.0f * g.d * (t * t) * (t * t) * sr;
    vf direct = 0.5f * x * x + g.d * (1.0f - v + vlog(v));
    vf rhs = sel(vabs(t) < 0.25f, series, direct);
    return pos & (vlog(u) < rhs);
}

// The lanes the squeezes left: the exact test, then fresh candidates until every lane is accepted.
__attribute__((noinline)) static vf settle(Shape g, vf x, vf u, vf out, vi done, X8 *gn, X8 *gu) {
    for (;;) {
        vi ok;
        vf cand = candidate(g, x, u, &ok);
        ok |= exact_test(g, x, u);
        out = sel(ok & ~done, cand, out);
        done |= ok;
        if (lanebits(done) == FULL) return out;
        vf z1, z2;
        normals(gn, &z1, &z2);
        x = z1;
        u = x8_uniform(gu);
    }
}

typedef struct {
    int n, k;
    const Shape *a, *b;
    int64_t rows;
    uint64_t seed;
    int64_t *counts;  // n × k
    int64_t ties;     // rankings in which a score equalled one of its top k
} Job;

// Sixteen rankings at a time, one per lane: an item's draws for the sixteen rankings are one
// vector, and each ranking's top k is k vectors of scores and k of items, updated by an insertion
// network (skipped when no lane reaches the k-th best).
static void *run_job(void *arg) {
    Job *j = arg;
    X8 gn, gu;
    x8_seed(&gn, j->seed * 2 + 1);
    x8_seed(&gu, j->seed * 2 + 2);
    const int k = j->k, n = j->n;
    vf *draws = aligned_alloc(64, sizeof(vf) * n);  // kept for ranking tied lanes again
    vf top[64];
    vi item[64];
    memset(j->counts, 0, sizeof(int64_t) * n * k);
    j->ties = 0;
    for (int64_t r0 = 0; r0 < j->rows; r0 += W) {
        for (int r = 0; r < k; r++) {
            top[r] = (vf){0} - INFINITY;
            item[r] = (vi){0};
        }
        vi tied = (vi){0};
        for (int i = 0; i < n; i++) {
            vf z1, z2;
            normals(&gn, &z1, &z2);
            vf ua = x8_uniform(&gu), ub = x8_uniform(&gu);
            vi okx, oky;
            vf x = candidate(j->a[i], z1, ua, &okx);
            vf y = candidate(j->b[i], z2, ub, &oky);
            if (lanebits(okx & oky) != FULL) {
                if (lanebits(okx) != FULL) x = settle(j->a[i], z1, ua, x, okx, &gn, &gu);
                if (lanebits(oky) != FULL) y = settle(j->b[i], z2, ub, y, oky, &gn, &gu);
            }
            vf v = x / (x + y);
            draws[i] = v;
            if (lanebits(v >= top[k - 1])) {
                vf cur = v;
                vi cur_item = (vi){0} + i;
                for (int r = 0; r < k; r++) {
                    vf t = top[r];
                    vi ti = item[r];
                    tied |= v == t;
                    vi gt = cur > t;
                    top[r] = sel(gt, cur, t);
                    item[r] = (vi)sel(gt, (vf)cur_item, (vf)ti);
                    cur = sel(gt, t, cur);
                    cur_item = (vi)sel(gt, (vf)ti, (vf)cur_item);
                }
            }
        }
        int lanes = j->rows - r0 < W ? (int)(j->rows - r0) : W;
        j->ties += __builtin_popcount(lanebits(tied) & ((1u << lanes) - 1));
        for (int l = 0; l < lanes; l++)
            for (int r = 0; r < k; r++) j->counts[(int64_t)item[r][l] * k + r]++;
    }
    free(draws);
    return NULL;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *msg, const char *arg) {
    fprintf(stderr, "mc_rank: %s%s\n", msg, arg ? arg : "");
    exit(2);
}

int main(int argc, char **argv) {
    const char *policy = NULL, *marginals = NULL;
    int k = 3, threads = 2, reps = 15;
    int64_t sims = 100000;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) die("missing value after ", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--policy")) policy = v;
        else if (!strcmp(a, "--marginals")) marginals = v;
        else if (!strcmp(a, "--k")) k = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--simulations")) sims = atoll(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else die("unknown option ", a);
    }
    if (!policy) die("--policy FILE is required", NULL);
    FILE *f = fopen(policy, "r");
    if (!f) die("cannot open ", policy);
    int cap = 1024, n = 0;
    double *alpha = malloc(sizeof(double) * cap), *beta = malloc(sizeof(double) * cap);
    while (fscanf(f, "%lf,%lf", &alpha[n], &beta[n]) == 2) {
        if (!(alpha[n] >= 1 && beta[n] >= 1)) die("shapes below 1 are not handled by this reference", NULL);
        if (++n == cap) {
            cap *= 2;
            alpha = realloc(alpha, sizeof(double) * cap);
            beta = realloc(beta, sizeof(double) * cap);
        }
    }
    fclose(f);
    if (n == 0) die("no items in ", policy);
    if (k < 1 || k > n || k > 64) die("need 1 <= k <= min(items, 64)", NULL);
    if (threads < 1 || reps < 1 || sims < 1) die("threads, reps and simulations must be positive", NULL);

    Shape *sa = malloc(sizeof(Shape) * n), *sb = malloc(sizeof(Shape) * n);
    for (int i = 0; i < n; i++)
        for (int w = 0; w < 2; w++) {
            float d = (float)(w ? beta[i] : alpha[i]) - 1.0f / 3.0f;
            double e = 1.0001 / (27.0 * d);
            Shape g = {d, 1.0f / sqrtf(9.0f * d), (float)(0.25 * e), (float)(0.2667 * e)};
            if (w) sb[i] = g; else sa[i] = g;
        }

    Job *jobs = calloc(threads, sizeof(Job));
    pthread_t *tid = calloc(threads, sizeof(pthread_t));
    for (int t = 0; t < threads; t++) {
        jobs[t] = (Job){n, k, sa, sb, sims / threads + (t < sims % threads), seed * 1000 + t,
                        calloc((size_t)n * k, sizeof(int64_t)), 0};
    }
    double *times = malloc(sizeof(double) * (reps + 1));
    for (int rep = 0; rep <= reps; rep++) {  // rep 0 warms up
        double t0 = now_ms();
        for (int t = 1; t < threads; t++) pthread_create(&tid[t], NULL, run_job, &jobs[t]);
        run_job(&jobs[0]);
        for (int t = 1; t < threads; t++) pthread_join(tid[t], NULL);
        times[rep] = now_ms() - t0;
    }
    qsort(times + 1, reps, sizeof(double), cmp_double);
    double median = reps % 2 ? times[1 + reps / 2] : 0.5 * (times[reps / 2] + times[reps / 2 + 1]);
    int64_t ties = 0;
    for (int t = 0; t < threads; t++) ties += jobs[t].ties;
    printf("median_ms=%.3f min_ms=%.3f rankings_per_second=%.4g items=%d k=%d simulations=%lld threads=%d tied=%lld\n",
           median, times[1], sims / (median / 1e3), n, k, (long long)sims, threads, (long long)ties);
    if (marginals) {
        FILE *o = fopen(marginals, "w");
        if (!o) die("cannot write ", marginals);
        for (int i = 0; i < n; i++) {
            for (int r = 0; r < k; r++) {
                int64_t c = 0;
                for (int t = 0; t < threads; t++) c += jobs[t].counts[(int64_t)i * k + r];
                fprintf(o, r ? ",%.9g" : "%.9g", (double)c / sims);
            }
            fputc('\n', o);
        }
        fclose(o);
    }
    return 0;
}
