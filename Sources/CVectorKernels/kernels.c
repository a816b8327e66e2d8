// CVectorKernels: the kernels declared in CVectorKernels.h, each a plain loop and its AVX-512F (and AVX2) versions.
#include "CVectorKernels.h"

static inline uint16_t narrow1(float x) {
    union { float f; uint32_t u; } v = { x };
    uint32_t b = v.u;
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((b >> 16) | 0x0040u);
    return (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

static void narrow_plain(const float *src, uint16_t *dst, size_t count) {
    for (size_t i = 0; i < count; i++) dst[i] = narrow1(src[i]);
}

static void round_plain(const float *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        union { uint32_t u; float f; } v = { (uint32_t)narrow1(src[i]) << 16 };
        dst[i] = v.f;
    }
}

static void positive_plain(const float *src, uint16_t *mask, size_t count) {
    for (size_t w = 0; w * 16 < count; w++) {
        uint16_t word = 0;
        for (size_t j = 0; j < 16 && w * 16 + j < count; j++) word |= (uint16_t)(src[w * 16 + j] > 0) << j;
        mask[w] = word;
    }
}

static void apply_plain(float *x, const uint16_t *mask, size_t count) {
    for (size_t i = 0; i < count; i++) if (!((mask[i / 16] >> (i % 16)) & 1)) x[i] = 0;
}

static void widen_plain(const uint16_t *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        union { uint32_t u; float f; } v = { (uint32_t)src[i] << 16 };
        dst[i] = v.f;
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define HAVE_X86_PATHS 1

// The bfloat16 bits of 16 floats, one per 32-bit lane (upper halves zero), as narrow1 computes them.
__attribute__((target("avx512f")))
static inline __m512i bits_avx512(__m512i b) {
    const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7FFF);
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), infinity = _mm512_set1_epi32(0x7F800000);
    const __m512i quiet = _mm512_set1_epi32(0x0040);
    __m512i high = _mm512_srli_epi32(b, 16);
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, bias), _mm512_and_si512(high, one)), 16);
    __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(b, magnitude), infinity);
    return _mm512_mask_blend_epi32(nan, rounded, _mm512_or_si512(high, quiet));
}

__attribute__((target("avx512f")))
static inline __mmask16 tail_mask(size_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

__attribute__((target("avx512f")))
static void narrow_avx512(const float *src, uint16_t *dst, size_t count) {
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 lanes = tail_mask(count - i);
        __m512i r = bits_avx512(_mm512_castps_si512(_mm512_maskz_loadu_ps(lanes, src + i)));
        _mm512_mask_cvtepi32_storeu_epi16(dst + i, lanes, r);
    }
}

__attribute__((target("avx512f")))
static void round_avx512(const float *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 lanes = tail_mask(count - i);
        __m512i r = bits_avx512(_mm512_castps_si512(_mm512_maskz_loadu_ps(lanes, src + i)));
        _mm512_mask_storeu_ps(dst + i, lanes, _mm512_castsi512_ps(_mm512_slli_epi32(r, 16)));
    }
}

__attribute__((target("avx512f")))
static void positive_avx512(const float *src, uint16_t *mask, size_t count) {
    const __m512 zero = _mm512_setzero_ps();
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 lanes = tail_mask(count - i);
        mask[i / 16] = (uint16_t)_mm512_mask_cmp_ps_mask(lanes, _mm512_maskz_loadu_ps(lanes, src + i), zero, _CMP_GT_OQ);
    }
}

__attribute__((target("avx512f")))
static void apply_avx512(float *x, const uint16_t *mask, size_t count) {
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 lanes = tail_mask(count - i);
        __m512 v = _mm512_maskz_loadu_ps((__mmask16)(mask[i / 16] & lanes), x + i);
        _mm512_mask_storeu_ps(x + i, lanes, v);
    }
}

__attribute__((target("avx512f")))
static void widen_avx512(const uint16_t *src, float *dst, size_t count) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_si512((void *)(dst + i), _mm512_slli_epi32(h, 16));
    }
    widen_plain(src + i, dst + i, count - i);
}

__attribute__((target("avx2")))
static void narrow_avx2(const float *src, uint16_t *dst, size_t count) {
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7FFF);
    const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF), infinity = _mm256_set1_epi32(0x7F800000);
    const __m256i quiet = _mm256_set1_epi32(0x0040);
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m256i r[2];
        for (int h = 0; h < 2; h++) {
            __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 8 * h));
            __m256i high = _mm256_srli_epi32(b, 16);
            __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, bias), _mm256_and_si256(high, one)), 16);
            __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, magnitude), infinity);
            r[h] = _mm256_blendv_epi8(rounded, _mm256_or_si256(high, quiet), nan);
        }
        // packus works within 128-bit lanes: [a0 b0 a1 b1] as 64-bit blocks, put back in order.
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r[0], r[1]), 0xD8);
        _mm256_storeu_si256((__m256i *)(dst + i), packed);
    }
    narrow_plain(src + i, dst + i, count - i);
}

__attribute__((target("avx2")))
static void widen_avx2(const uint16_t *src, float *dst, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(h, 16));
    }
    widen_plain(src + i, dst + i, count - i);
}
#endif

int cbf16_path(void) {
#ifdef HAVE_X86_PATHS
    // Worker threads may ask at once: each computes the same value, and the atomics make that race well defined.
    static int path = -1;
    int known = __atomic_load_n(&path, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
        __atomic_store_n(&path, known, __ATOMIC_RELAXED);
    }
    return known;
#else
    return 0;
#endif
}

void cbf16_narrow(const float *src, uint16_t *dst, size_t count) {
#ifdef HAVE_X86_PATHS
    switch (cbf16_path()) {
    case 2: narrow_avx512(src, dst, count); return;
    case 1: narrow_avx2(src, dst, count); return;
    default: break;
    }
#endif
    narrow_plain(src, dst, count);
}

void cbf16_narrow_rows(const float *src, size_t rows, size_t columns, size_t stride, uint16_t *dst) {
    if (stride == columns) {
        cbf16_narrow(src, dst, rows * columns);
        return;
    }
    for (size_t r = 0; r < rows; r++) cbf16_narrow(src + r * stride, dst + r * columns, columns);
}

void cbf16_round(const float *src, float *dst, size_t count) {
#ifdef HAVE_X86_PATHS
    if (cbf16_path() == 2) {
        round_avx512(src, dst, count);
        return;
    }
#endif
    round_plain(src, dst, count);
}

void cbf16_round_rows(const float *src, size_t rows, size_t columns, size_t stride, float *dst) {
    if (stride == columns) {
        cbf16_round(src, dst, rows * columns);
        return;
    }
    for (size_t r = 0; r < rows; r++) cbf16_round(src + r * stride, dst + r * columns, columns);
}

void cmask_positive(const float *src, uint16_t *mask, size_t count) {
#ifdef HAVE_X86_PATHS
    if (cbf16_path() == 2) {
        positive_avx512(src, mask, count);
        return;
    }
#endif
    positive_plain(src, mask, count);
}

void cmask_apply(float *x, const uint16_t *mask, size_t count) {
#ifdef HAVE_X86_PATHS
    if (cbf16_path() == 2) {
        apply_avx512(x, mask, count);
        return;
    }
#endif
    apply_plain(x, mask, count);
}

void cbf16_widen(const uint16_t *src, float *dst, size_t count) {
#ifdef HAVE_X86_PATHS
    switch (cbf16_path()) {
    case 2: widen_avx512(src, dst, count); return;
    case 1: widen_avx2(src, dst, count); return;
    default: break;
    }
#endif
    widen_plain(src, dst, count);
}
