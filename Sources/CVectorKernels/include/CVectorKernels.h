// CVectorKernels: loops over whole buffers that Swift cannot write at AVX-512 width: float32 <-> bfloat16
// conversion (bf16 GEMM operands, compact activations, gradient buckets) and the one-bit-per-element sign masks that
// ReLUs keep for backward in bf16 training.
//
// Why C: Swift compiles for baseline x86-64 (SSE2), so these loops ran 4 lanes wide; the bf16 GEMM operands are
// converted on every call, and at SSE2 width that took an eighth of a bf16 training step. Here each function is
// compiled for AVX-512F (and the conversions for AVX2) as well, through function target attributes, and picks one at
// run time, so the binary still runs on any x86-64 CPU (and on other architectures through the plain loop).
//
// The rounding is the same integer arithmetic as Support's `BFloat16.bits` on every path, bit for bit: nearest
// bfloat16, ties to even, NaN kept as a quiet NaN, subnormals rounded like any other value (not flushed, as the
// AVX512_BF16 instruction VCVTNEPS2BF16 would).
#ifndef CVECTORKERNELS_H
#define CVECTORKERNELS_H
#include <stddef.h>
#include <stdint.h>

// dst[i] = bfloat16 nearest src[i], for i in 0..<count.
void cbf16_narrow(const float *src, uint16_t *dst, size_t count);

// dst[r * columns + j] = bfloat16 nearest src[r * stride + j]: a [rows, columns] matrix with row length `stride`,
// packed.
void cbf16_narrow_rows(const float *src, size_t rows, size_t columns, size_t stride, uint16_t *dst);

// dst[i] = src[i] rounded to the nearest bfloat16 and kept as float32 (low 16 bits zero); dst may equal src.
void cbf16_round(const float *src, float *dst, size_t count);

// cbf16_round over a [rows, columns] matrix with row length `stride`, into dst packed.
void cbf16_round_rows(const float *src, size_t rows, size_t columns, size_t stride, float *dst);

// dst[i] = the float32 that src[i] stands for (exact), for i in 0..<count.
void cbf16_widen(const uint16_t *src, float *dst, size_t count);

// mask bit i (bit i % 16 of mask[i / 16]) = src[i] > 0, for i in 0..<count; the last word's unused bits are 0.
// mask holds (count + 15) / 16 words.
void cmask_positive(const float *src, uint16_t *mask, size_t count);

// x[i] = 0 where mask bit i is 0, for i in 0..<count (x[i] kept where it is 1).
void cmask_apply(float *x, const uint16_t *mask, size_t count);

// Which path the functions take on this CPU: 2 = AVX-512F, 1 = AVX2, 0 = plain loop.
int cbf16_path(void);
#endif
