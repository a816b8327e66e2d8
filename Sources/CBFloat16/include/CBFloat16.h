// CBFloat16: float32 <-> bfloat16 conversion of whole buffers with AVX-512 or AVX2 where the CPU has them.
//
// Why C: Swift compiles for baseline x86-64 (SSE2), so its conversion loops run 4 lanes wide; the bf16 GEMM operands
// and gradient buckets are converted on every call, and at SSE2 width that took an eighth of a bf16 training step.
// Here each function is compiled for AVX-512F and AVX2 as well (function target attributes) and picks one at run
// time, so the binary still runs on any x86-64 CPU (and on other architectures through the plain loop).
//
// The rounding is the same integer arithmetic as Support's `BFloat16.bits` on every path, bit for bit: nearest
// bfloat16, ties to even, NaN kept as a quiet NaN, subnormals rounded like any other value (not flushed, as the
// AVX512_BF16 instruction VCVTNEPS2BF16 would).
#ifndef CBFLOAT16_H
#define CBFLOAT16_H
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

// Which path the functions take on this CPU: 2 = AVX-512F, 1 = AVX2, 0 = plain loop.
int cbf16_path(void);
#endif
