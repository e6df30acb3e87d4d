// Vector primitives that Swift's SIMD types do not lower to single instructions, as inline C over
// clang's extended vectors (imported into Swift as SIMD16<Float> and SIMD16<Int32>):
//   - a fused multiply-add: Swift's `SIMD16<Float>.addingProduct` is a lane loop that LLVM's
//     SLP pass rebuilds as four 128-bit FMAs plus shuffles;
//   - a square root: `SIMD16<Float>.squareRoot()` becomes sixteen scalar calls;
//   - the lanes of a mask as bits (a movemask / kmov), which Swift spells as a reduction;
//   - a lane select and integer shifts: `replacing(with:where:)`, `&<<` and `&>>` on SIMD16
//     are lane loops that LLVM rebuilds as four 128-bit pieces.
// Each compiles to what the build targets. `rk_fma16` is one instruction where the target has FMA
// (-target-cpu native on any AVX2 or AVX-512 host; the same bits as `addingProduct`); a baseline
// x86-64 build has no FMA instruction, and a correctly rounded fma there is a library call per lane
// (20x slower Monte Carlo, measured), so it multiplies then adds: draws from such a build may differ
// from an FMA build's in the last bit. Swift inlines these like its own code (they are
// `static inline`), so there is no call.
#ifndef RECKIT_CSIMD_H
#define RECKIT_CSIMD_H

#include <stdint.h>

typedef float rk_float16 __attribute__((ext_vector_type(16)));
typedef int32_t rk_int16 __attribute__((ext_vector_type(16)));
typedef uint32_t rk_uint16 __attribute__((ext_vector_type(16)));

#define RK_INLINE static inline __attribute__((always_inline))

/// a·b + c per lane: one rounding where the target has FMA, else two.
RK_INLINE rk_float16 rk_fma16(rk_float16 a, rk_float16 b, rk_float16 c) {
#if defined(__FMA__)
    return __builtin_elementwise_fma(a, b, c);
#else
    return a * b + c;
#endif
}

/// The correctly rounded square root per lane (the vector unit's sqrt instruction).
RK_INLINE rk_float16 rk_sqrt16(rk_float16 x) { return __builtin_elementwise_sqrt(x); }

/// `a` where the mask lane is set (all ones), else `b`: one blend.
RK_INLINE rk_float16 rk_select16(rk_int16 m, rk_float16 a, rk_float16 b) {
    return (rk_float16)(((rk_int16)a & m) | ((rk_int16)b & ~m));
}

/// `a` where the mask lane is set (all ones), else `b`, for integer lanes.
RK_INLINE rk_int16 rk_select16i(rk_int16 m, rk_int16 a, rk_int16 b) { return (a & m) | (b & ~m); }

/// |x| per lane (the sign bit cleared).
RK_INLINE rk_float16 rk_abs16(rk_float16 x) { return __builtin_elementwise_abs(x); }

/// Arithmetic shift right by `n` bits (0 ≤ n < 32) per lane.
RK_INLINE rk_int16 rk_sra16(rk_int16 x, int n) { return x >> n; }

/// Shift left by `n` bits (0 ≤ n < 32) per lane.
RK_INLINE rk_int16 rk_shl16(rk_int16 x, int n) { return (rk_int16)((rk_uint16)x << n); }

/// Bit l set where lane l of the mask (all ones or zero per lane) is set.
RK_INLINE uint32_t rk_mask_bits16(rk_int16 m) {
    typedef _Bool rk_bool16 __attribute__((ext_vector_type(16)));
    rk_bool16 b = __builtin_convertvector(m < 0, rk_bool16);
    uint16_t bits;
    __builtin_memcpy(&bits, &b, sizeof bits);
    return bits;
}

/// True when every lane of the mask is set.
RK_INLINE _Bool rk_mask_all16(rk_int16 m) { return rk_mask_bits16(m) == 0xFFFFu; }

/// Asks for the cache line at `p` ahead of a read-modify-write (a table indexed by data: the
/// misses of a loop overlap instead of stalling it one by one).
RK_INLINE void rk_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

/// 10^e for 0 <= e <= 22, exact (every one is a double): a constant table the compiler addresses
/// directly. (A Swift tuple literal indexed at run time was built on the stack at each call, and
/// the load of one entry from those wide stores stalled the number parser.)
RK_INLINE double rk_pow10_exact(long e) {
    static const double t[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    return t[e];
}

/// 10^-e for 0 <= e <= 8, each the double nearest to it (not exact: the float reader checks how
/// near a Float rounding boundary the product lands, and divides exactly when it is too near).
RK_INLINE double rk_pow10_inverse(long e) {
    static const double t[9] = {1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8};
    return t[e];
}

/// The bytes of a CSV text that delimit fields, 64 at a time: bit i of `*sep`, `*newline` and
/// `*quote` is set where byte i of `p[0..<64]` is the separator, `\n` and `"`. One load and three
/// compares (three mask compares on AVX-512, pcmpeqb + pmovmskb pairs below), where Swift's
/// `SIMD64<UInt8>` comparison and its reduction to bits are lane loops.
RK_INLINE void rk_csv_masks64(const uint8_t *p, uint8_t separator, uint64_t *sep, uint64_t *newline, uint64_t *quote) {
    typedef uint8_t rk_u8x64 __attribute__((ext_vector_type(64)));
    typedef _Bool rk_b64 __attribute__((ext_vector_type(64)));
    rk_u8x64 v;
    __builtin_memcpy(&v, p, 64);
    rk_b64 s = __builtin_convertvector(v == separator, rk_b64);
    rk_b64 n = __builtin_convertvector(v == (uint8_t)10, rk_b64);
    rk_b64 q = __builtin_convertvector(v == (uint8_t)34, rk_b64);
    __builtin_memcpy(sep, &s, 8);
    __builtin_memcpy(newline, &n, 8);
    __builtin_memcpy(quote, &q, 8);
}

#endif
