// NN: Winograd F(2,3) convolution for Conv3d's stride-1 "same" convs (3×3×3, 1×3×3 and 3×1×1 with padding 1 on
// the 3-tap axes), forward, dX and dW, with fewer multiplies than vol2col + sgemm for the same result.
//
// Each 3-tap axis is cut into tiles of 2 outputs that read 4 inputs. In the transformed domain the conv becomes
// P = 4^a independent GEMMs [out × in]·[in × tiles] (a = the number of 3-tap axes), so the multiplies per 2^a
// outputs drop from 3^a·2^a to 4^a: 3.375× fewer for 3×3×3, 2.25× for 1×3×3, 1.5× for 3×1×1.
// Per 3-tap axis (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
//   input  Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   4 inputs  → 4 points
//   weight G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]              3 taps    → 4 points
//   output Aᵀ = [1 1 1 0; 0 1 -1 -1]                      4 points  → 2 outputs
// and the three are applied along each 3-tap axis in turn (the transform of a 3-D tile is their tensor product).
// Backward needs no other transforms:
//   dX is the same conv of dY with the kernel flipped and in/out swapped. G·flip(g) is G·g with its first and last
//   points swapped, so that conv's transformed weights are the forward's U, transposed, with points 0 and 3 swapped
//   on every 3-tap axis.
//   dW = Gᵀ·(Σ over tiles of (A·dY_tile) ⊙ (Bᵀ·x_tile))·G per (out, in): per point a GEMM over the tiles.
// Transformed chunks are laid out [P, C, T] (point, channel, tile) so that every GEMM reads contiguous rows; tiles run
// over (clip, tile-depth, tile-row) "tile rows" of `tilesPerRow` tiles each.

import Support

/// Geometry of one Winograd conv for one input shape. Built only for convs whose every axis is either 3 taps with
/// stride 1 and padding 1, or 1 tap with stride 1 and padding 0, with at least one 3-tap axis; such convs keep
/// (D, H, W), so input and output share one tile grid.
struct WinogradPlan {
    /// Whether each of (D, H, W) is a 3-tap axis.
    let threeTap: [Bool]
    /// (D, H, W) of the input and of the output.
    let dims: [Int]
    /// Tiles per axis: ⌈dim / 2⌉ on 3-tap axes, dim on the others.
    let tiles: [Int]
    /// Transformed points per axis: 4 on 3-tap axes, 1 on the others.
    let points: [Int]
    /// P: transformed points per tile, and so GEMMs per chunk.
    let positions: Int
    /// For each point ξ, the point whose forward weights serve the dX conv (0 ↔ 3 on every 3-tap axis).
    let flipped: [Int]

    init?(kernel: [Int], stride: [Int], padding: [Int], inputShape: [Int]) {
        guard inputShape.count == 5 else { return nil }
        var threeTap: [Bool] = []
        for i in 0..<3 {
            if kernel[i] == 3 && stride[i] == 1 && padding[i] == 1 {
                threeTap.append(true)
            } else if kernel[i] == 1 && stride[i] == 1 && padding[i] == 0 {
                threeTap.append(false)
            } else {
                return nil
            }
        }
        guard threeTap.contains(true) else { return nil }
        self.threeTap = threeTap
        dims = Array(inputShape[2...])
        tiles = (0..<3).map { threeTap[$0] ? (inputShape[2 + $0] + 1) / 2 : inputShape[2 + $0] }
        points = threeTap.map { $0 ? 4 : 1 }
        positions = points.reduce(1, *)
        let p = points
        flipped = (0..<positions).map { xi in
            let swap = { (i: Int, n: Int) in n == 4 && (i == 0 || i == 3) ? 3 - i : i }
            let a = xi / (p[1] * p[2]), b = (xi / p[2]) % p[1], c = xi % p[2]
            return (swap(a, p[0]) * p[1] + swap(b, p[1])) * p[2] + swap(c, p[2])
        }
    }

    /// Tile rows per clip: one per (tile-depth, tile-row) pair.
    var rowsPerClip: Int { tiles[0] * tiles[1] }
    var tilesPerRow: Int { tiles[2] }
    /// Slots of T a tile row takes: tilesPerRow rounded up to 4, so that the 4-wide loops never cross rows.
    var lineSlots: Int { (tiles[2] + 3) / 4 * 4 }
    /// Floats in one line of the per-row work buffer: even and odd halves of lineSlots + 1 each on a 3-tap W axis
    /// (rounded up to 4), else lineSlots. Lines are padded so that 4-wide loops over whole lines stay inside.
    var lineLength: Int { threeTap[2] ? 2 * lineSlots + 4 : lineSlots }
    /// Floats of the per-worker line buffer `scatter` and `gather` take: 16 lines, a row of zeros, and 4 rows for
    /// widening a compact source.
    var lineBufferCount: Int { 17 * lineLength + 4 * dims[2] }
    /// Floats of the tile-row scratch a rounding `scatter` writes through: P points of one tile row.
    var tileRowScratchCount: Int { positions * lineSlots }

    // MARK: Weights

    /// Runs body(o, i0, lanes, t) for every output channel o (in parallel over o) and every group of up to 4 input
    /// channels from i0 (`lanes` of them, one per SIMD lane), with t a 4×4×4 block of scratch indexed d·16 + h·4 + w,
    /// where the kernel fills the low corner.
    private func forEachChannelQuad(out: Int, in inputs: Int,
                                    _ body: (Int, Int, Int, UnsafeMutablePointer<SIMD4<Float>>) -> Void) {
        parallelFor(out) { o in
            withUnsafeTemporaryAllocation(of: SIMD4<Float>.self, capacity: 64) { tmp in
                for i0 in Swift.stride(from: 0, to: inputs, by: 4) { body(o, i0, min(4, inputs - i0), tmp.baseAddress!) }
            }
        }
    }

    /// Kernel taps per axis: 3 on 3-tap axes, 1 on the others.
    private var taps: (d: Int, h: Int, w: Int) { (threeTap[0] ? 3 : 1, threeTap[1] ? 3 : 1, threeTap[2] ? 3 : 1) }

    /// U[ξ, o, i] = (G ⊗ G ⊗ G)·w[o, i] on the 3-tap axes: w [out, in, kD, kH, kW] → u [P, out, in].
    /// Four input channels at a time, one per SIMD lane, so that the stores into u are contiguous.
    func transformWeights(_ w: UnsafePointer<Float>, out: Int, in inputs: Int, into u: UnsafeMutablePointer<Float>) {
        let (kd, kh, kw) = taps, (nd, nh, nw) = (points[0], points[1], points[2])
        let kvol = kd * kh * kw, plane = out * inputs
        let (tapD, tapH, tapW) = (threeTap[0], threeTap[1], threeTap[2])
        forEachChannelQuad(out: out, in: inputs) { o, i0, lanes, t in
            let g = w + (o * inputs + i0) * kvol
            for a in 0..<kd { for b in 0..<kh { for c in 0..<kw {
                let tap = (a * kh + b) * kw + c
                var v = SIMD4<Float>(repeating: 0)
                for l in 0..<lanes { v[l] = g[l * kvol + tap] }
                t[a * 16 + b * 4 + c] = v
            } } }
            if tapW { for a in 0..<kd { for b in 0..<kh { Self.expand(t + a * 16 + b * 4, 1) } } }
            if tapH { for a in 0..<kd { for c in 0..<nw { Self.expand(t + a * 16 + c, 4) } } }
            if tapD { for b in 0..<nh { for c in 0..<nw { Self.expand(t + b * 4 + c, 16) } } }
            var xi = 0
            for a in 0..<nd { for b in 0..<nh { for c in 0..<nw {
                let v = t[a * 16 + b * 4 + c], dst = u + xi * plane + o * inputs + i0
                if lanes == 4 { store4(v, dst) } else { for l in 0..<lanes { dst[l] = v[l] } }
                xi += 1
            } } }
        }
    }

    /// dW[o, i] += (Gᵀ ⊗ Gᵀ ⊗ Gᵀ)·dU[·, o, i]: du [P, out, in] → adds into dW [out, in, kD, kH, kW]. Four input
    /// channels at a time, as `transformWeights`.
    func accumulateWeightGradient(_ du: UnsafePointer<Float>, out: Int, in inputs: Int,
                                  into dW: UnsafeMutablePointer<Float>) {
        let (kd, kh, kw) = taps, (nd, nh, nw) = (points[0], points[1], points[2])
        let kvol = kd * kh * kw, plane = out * inputs
        let (tapD, tapH, tapW) = (threeTap[0], threeTap[1], threeTap[2])
        forEachChannelQuad(out: out, in: inputs) { o, i0, lanes, t in
            var xi = 0
            for a in 0..<nd { for b in 0..<nh { for c in 0..<nw {
                let src = du + xi * plane + o * inputs + i0
                var v = SIMD4<Float>(repeating: 0)
                if lanes == 4 { v = load4(src) } else { for l in 0..<lanes { v[l] = src[l] } }
                t[a * 16 + b * 4 + c] = v
                xi += 1
            } } }
            if tapD { for b in 0..<nh { for c in 0..<nw { Self.contract(t + b * 4 + c, 16) } } }
            if tapH { for a in 0..<kd { for c in 0..<nw { Self.contract(t + a * 16 + c, 4) } } }
            if tapW { for a in 0..<kd { for b in 0..<kh { Self.contract(t + a * 16 + b * 4, 1) } } }
            let g = dW + (o * inputs + i0) * kvol
            for a in 0..<kd { for b in 0..<kh { for c in 0..<kw {
                let tap = (a * kh + b) * kw + c, v = t[a * 16 + b * 4 + c]
                for l in 0..<lanes { g[l * kvol + tap] += v[l] }
            } } }
        }
    }

    /// G on 3 taps at p[0], p[s], p[2s] → 4 points at p[0…3s].
    @inline(__always)
    private static func expand(_ p: UnsafeMutablePointer<SIMD4<Float>>, _ s: Int) {
        let g0 = p[0], g1 = p[s], g2 = p[2 * s]
        p[s] = 0.5 * (g0 + g1 + g2)
        p[2 * s] = 0.5 * (g0 - g1 + g2)
        p[3 * s] = g2
    }

    /// Gᵀ on 4 points at p[0…3s] → 3 taps at p[0], p[s], p[2s].
    @inline(__always)
    private static func contract(_ p: UnsafeMutablePointer<SIMD4<Float>>, _ s: Int) {
        let u0 = p[0], u1 = p[s], u2 = p[2 * s], u3 = p[3 * s]
        p[0] = u0 + 0.5 * (u1 + u2)
        p[s] = 0.5 * (u1 - u2)
        p[2 * s] = 0.5 * (u1 + u2) + u3
    }

    // MARK: Tiles

    /// The batch `scatter` transforms: fp32 values, or a compact (bf16) copy widened a row at a time.
    enum Source {
        case floats(UnsafePointer<Float>)
        case compact(CompactTensor)

        init(_ kept: Kept) {
            switch kept {
            case .full(let t): self = .floats(t.data)
            case .compact(let c): self = .compact(c)
            }
        }
    }

    /// What `scatter` reads per tile: an input patch (4 values from 2t − 1 on 3-tap axes, transformed by Bᵀ), or an
    /// output-gradient tile (2 values from 2t, transformed by A, zero past the edge: those outputs were cropped).
    enum Patch { case input, outputGradient }

    /// Transforms tile rows `rows` of a batch src [N, C, D, H, W] into dst [P, C, T] (T = rows.count · tilesPerRow).
    /// `line` is a scratch of `lineBufferCount` floats. With `rounded`, the transformed tiles go there instead,
    /// rounded to bf16 (same [P, C, T] layout), each tile row while it is still in cache; `dst` is then only a
    /// scratch of `tileRowScratchCount` floats.
    ///
    /// The patch rows of a tile row go through a buffer of 16 lines, (depth a, height b) → line a·4 + b. On a 3-tap
    /// W axis a line holds the row split into its even and odd elements (halves of lineSlots + 1), so that the
    /// per-tile transform reads unit-stride and vectorizes; Bᵀ/A along D and H are elementwise over whole lines.
    func scatter(_ src: Source, channels: Int, rows: Range<Int>, patch: Patch,
                 into dst: UnsafeMutablePointer<Float>, line: UnsafeMutablePointer<Float>,
                 rounded: RoundedPointer? = nil) {
        let (d, h, w) = (dims[0], dims[1], dims[2])
        let tw = tiles[2], slots = lineSlots, tcount = rows.count * tw, cstride = channels * tcount
        // Rounded values in fp32 storage are rounded as they are stored, straight into the [P, C, T] planes; bf16
        // bits go through the tile-row scratch. `ps`: the distance between the P points of one tile in what the
        // transforms write (the planes, or the scratch's [P, tilesPerRow] rows).
        let direct = rounded?.engine == .fp32
        let planes = direct ? rounded!.floats : dst
        let ps = rounded == nil || direct ? cstride : tw
        let input = patch == .input
        // Values per axis in a patch, and the offset of tile t's first one: 2t − 1 (input) or 2t (gradient).
        let span = threeTap.map { $0 ? (input ? 4 : 2) : 1 }
        let shift = input ? 1 : 0
        let len = lineLength, half = slots + 1
        @inline(__always) func lineAt(_ a: Int, _ b: Int) -> UnsafeMutablePointer<Float> { line + (a * 4 + b) * len }
        // The 16 lines are followed by a zero row that stands in for rows outside the input.
        let zeros = line + 16 * len, widened = line + 17 * len
        zeros.update(repeating: 0, count: len)
        for c in 0..<channels {
            for r in rows {
                let clip = r / rowsPerClip, rr = r % rowsPerClip
                let td = rr / tiles[1], th = rr % tiles[1]
                let z0 = threeTap[0] ? 2 * td - shift : td, y0 = threeTap[1] ? 2 * th - shift : th
                let plane = (clip * channels + c) * d * h * w
                // Row (z0 + a, y0 + b) of this plane, or zeros outside; a compact source is widened into slot
                // `slot` of the 4 rows at `widened` (rows in use at once take different slots).
                @inline(__always) func sourceRow(_ a: Int, _ b: Int, slot: Int = 0) -> UnsafePointer<Float> {
                    let z = z0 + a, y = y0 + b
                    guard z >= 0 && z < d && y >= 0 && y < h else { return UnsafePointer(zeros) }
                    switch src {
                    case .floats(let p): return p + plane + (z * h + y) * w
                    case .compact(let t):
                        let row = widened + slot * w
                        t.widen(from: plane + (z * h + y) * w, count: w, into: row)
                        return UnsafePointer(row)
                    }
                }
                let at = c * tcount + (r - rows.lowerBound) * tw
                let o = rounded == nil || direct ? planes + at : dst
                defer {
                    if let rounded, !direct {
                        for xi in 0..<positions { rounded.advanced(by: xi * cstride + at).store(dst + xi * tw, count: tw) }
                    }
                }
                if !threeTap[1] && !threeTap[2] {
                    // 3×1×1: a tile row is a plain row of W tiles, transformed from the source rows straight into dst.
                    let o1 = o + ps, o2 = o1 + ps, o3 = o2 + ps
                    let r0 = sourceRow(0, 0, slot: 0), r1 = sourceRow(1, 0, slot: 1)
                    let rows4 = input ? (r0, r1, sourceRow(2, 0, slot: 2), sourceRow(3, 0, slot: 3)) : (r0, r1, r1, r1)
                    mapLines(input ? .inputBT : .gradientA, w, rows4, (o, o1, o2, o3), rounding: direct)
                    continue
                }
                for a in 0..<span[0] { for b in 0..<span[1] {
                    let l = lineAt(a, b), row = sourceRow(a, b)
                    guard threeTap[2] else {
                        l.update(from: row, count: w)
                        (l + w).update(repeating: 0, count: slots - w)
                        continue
                    }
                    // Even and odd halves, zero past the row: input E[j] = x[2j − 1], O[j] = x[2j];
                    // gradient E[j] = x[2j], O[j] = x[2j + 1].
                    let e = l, od = l + half
                    if input {
                        e[0] = 0
                        deinterleave(row, w, even: od, odd: e + 1, count: slots)
                        od[slots] = 0
                    } else {
                        deinterleave(row, w, even: e, odd: od, count: half)
                    }
                } }
                if threeTap[0] {
                    for b in 0..<span[1] { Self.transformLines(lineAt(0, b), 4 * len, len, input) }
                }
                if threeTap[1] {
                    for a in 0..<points[0] { Self.transformLines(lineAt(a, 0), len, len, input) }
                }
                for a in 0..<points[0] { for b in 0..<points[1] {
                    let l = UnsafePointer(lineAt(a, b))
                    let o0 = o + ((a * points[1] + b) * points[2]) * ps
                    if !threeTap[2] {
                        if direct { BFloat16.round(l, into: o0, count: tw) } else { o0.update(from: l, count: tw) }
                        continue
                    }
                    // Tile j reads E[j], O[j], E[j + 1], O[j + 1] (input) or E[j], O[j] (gradient).
                    let o1 = o0 + ps, o2 = o1 + ps, o3 = o2 + ps
                    let e = l, od = l + half
                    mapLines(input ? .inputBT : .gradientA, tw, (e, od, e + 1, od + 1), (o0, o1, o2, o3),
                             rounding: direct)
                } }
            }
        }
    }

    /// Bᵀ (input: 4 lines → 4) or A (gradient: 2 lines → 4) across lines l, l + s, l + 2s, l + 3s, elementwise
    /// over `count` floats, in place.
    @inline(__always)
    private static func transformLines(_ l: UnsafeMutablePointer<Float>, _ s: Int, _ count: Int, _ input: Bool) {
        let lines = (l, l + s, l + 2 * s, l + 3 * s)
        mapLines(input ? .inputBT : .gradientA, count, (UnsafePointer(lines.0), UnsafePointer(lines.1),
                 UnsafePointer(lines.2), UnsafePointer(lines.3)), lines)
    }

    /// Aᵀ on rows `rows` of transformed outputs m [P, C, T] → writes those tiles of dst [N, C, D, H, W], dropping
    /// outputs past the edge (odd sizes). Every element of dst belongs to exactly one tile, so the rows of all
    /// chunks together write dst whole. `line` is a scratch of `lineBufferCount` floats; lines are split into even
    /// and odd halves on a 3-tap W axis as in `scatter`.
    func gather(_ m: UnsafePointer<Float>, channels: Int, rows: Range<Int>, into dst: UnsafeMutablePointer<Float>,
                line: UnsafeMutablePointer<Float>) {
        let (d, h, w) = (dims[0], dims[1], dims[2])
        let tw = tiles[2], slots = lineSlots, tcount = rows.count * tw, cstride = channels * tcount
        let len = lineLength, half = slots + 1
        @inline(__always) func lineAt(_ a: Int, _ b: Int) -> UnsafeMutablePointer<Float> { line + (a * 4 + b) * len }
        let outD = threeTap[0] ? 2 : 1, outH = threeTap[1] ? 2 : 1
        for c in 0..<channels {
            for r in rows {
                let clip = r / rowsPerClip, rr = r % rowsPerClip
                let td = rr / tiles[1], th = rr % tiles[1]
                let z0 = threeTap[0] ? 2 * td : td, y0 = threeTap[1] ? 2 * th : th
                let plane = dst + (clip * channels + c) * d * h * w
                let src = m + c * tcount + (r - rows.lowerBound) * tw
                if !threeTap[1] && !threeTap[2] {
                    // 3×1×1: straight from the 4 transformed rows to the 2 output rows.
                    let m0 = src, m1 = m0 + cstride, m2 = m1 + cstride, m3 = m2 + cstride
                    let y = plane + (z0 * h + th) * w
                    // The second output row is dropped past an odd depth.
                    let y1 = z0 + 1 < d ? y + h * w : nil
                    mapLines(.outputAT, w, (m0, m1, m2, m3), (y, y1 ?? y, y, y), outputs: y1 == nil ? 1 : 2)
                    continue
                }
                for a in 0..<points[0] { for b in 0..<points[1] {
                    let l = lineAt(a, b)
                    let m0 = src + ((a * points[1] + b) * points[2]) * cstride
                    if !threeTap[2] {
                        l.update(from: m0, count: tw)
                        continue
                    }
                    // Rows of m end at tilesPerRow; the line's lanes past it are left as they are and never written out.
                    let m1 = m0 + cstride, m2 = m1 + cstride, m3 = m2 + cstride
                    mapLines(.outputAT, tw, (m0, m1, m2, m3), (l, l + half, l, l), outputs: 2)
                } }
                if threeTap[1] {
                    for a in 0..<points[0] { Self.reduceLines(lineAt(a, 0), len, len) }
                }
                if threeTap[0] {
                    for b in 0..<outH { Self.reduceLines(lineAt(0, b), 4 * len, len) }
                }
                for a in 0..<outD { for b in 0..<outH {
                    let z = z0 + a, y = y0 + b
                    guard z < d && y < h else { continue }
                    let row = plane + (z * h + y) * w, l = UnsafePointer(lineAt(a, b))
                    if !threeTap[2] {
                        row.update(from: l, count: w)
                        continue
                    }
                    interleave(even: l, odd: l + half, w, into: row)
                } }
            }
        }
    }

    /// Aᵀ across lines l, l + s, l + 2s, l + 3s → l, l + s, elementwise over `count` floats, in place.
    @inline(__always)
    private static func reduceLines(_ l: UnsafeMutablePointer<Float>, _ s: Int, _ count: Int) {
        let lines = (l, l + s, l + 2 * s, l + 3 * s)
        mapLines(.outputAT, count, (UnsafePointer(lines.0), UnsafePointer(lines.1), UnsafePointer(lines.2),
                 UnsafePointer(lines.3)), lines, outputs: 2)
    }
}

// MARK: Vector helpers
// The transforms are short elementwise loops over several pointers, which the compiler does not vectorize on its own
// (it cannot rule out aliasing); these spell out 4-wide steps, the width every x86-64 CPU has.

/// A value the transforms compute on: one Float, or 4 of them in SIMD lanes.
private protocol TransformLane {
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static prefix func - (a: Self) -> Self
}
extension Float: TransformLane {}
extension SIMD4: TransformLane where Scalar == Float {}

/// The three 1-D F(2,3) transforms of the tiles, each written once (see the top of this file).
private enum TileTransform {
    /// Bᵀ: 4 input values → 4 points.
    case inputBT
    /// A: 2 output-gradient values → 4 points (the last two inputs unused).
    case gradientA
    /// Aᵀ: 4 points → 2 outputs (the last two results unused).
    case outputAT

    @inline(__always)
    func apply<L: TransformLane>(_ v: (L, L, L, L)) -> (L, L, L, L) {
        switch self {
        case .inputBT: return (v.0 - v.2, v.1 + v.2, v.2 - v.1, v.1 - v.3)
        case .gradientA: return (v.0, v.0 + v.1, v.0 - v.1, -v.1)
        case .outputAT: return (v.0 + v.1 + v.2, v.1 - v.2 - v.3, v.2, v.3)
        }
    }
}

/// Applies `t` elementwise across four rows: dst.k[j] = t(src.0[j], …, src.3[j]).k for j in 0..<count and the
/// first `outputs` destination rows, 4 lanes at a time while they fit, then one element at a time (rows of the
/// caller's tensors end exactly at count). Each j reads before it writes, so rows may be transformed in place. With
/// `rounding`, what is stored is rounded to bf16 (kept in fp32), bit for bit as `BFloat16.round(_:into:count:)`.
@inline(__always)
private func mapLines(
    _ t: TileTransform, _ count: Int,
    _ src: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
    _ dst: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
            UnsafeMutablePointer<Float>),
    outputs: Int = 4, rounding: Bool = false
) {
    @inline(__always) func put(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
        store4(rounding ? roundedBF16(v) : v, p)
    }
    @inline(__always) func put(_ v: Float, _ p: UnsafeMutablePointer<Float>) {
        p.pointee = rounding ? BFloat16.float(BFloat16.bits(v)) : v
    }
    var j = 0
    while j + 4 <= count {
        let r = t.apply((load4(src.0 + j), load4(src.1 + j), load4(src.2 + j), load4(src.3 + j)))
        put(r.0, dst.0 + j)
        if outputs > 1 { put(r.1, dst.1 + j) }
        if outputs > 2 { put(r.2, dst.2 + j); put(r.3, dst.3 + j) }
        j += 4
    }
    while j < count {
        let r = t.apply((src.0[j], src.1[j], src.2[j], src.3[j]))
        put(r.0, dst.0 + j)
        if outputs > 1 { put(r.1, dst.1 + j) }
        if outputs > 2 { put(r.2, dst.2 + j); put(r.3, dst.3 + j) }
        j += 1
    }
}

/// Four floats rounded to bf16 and kept in fp32, as `BFloat16.bits` rounds (nearest, ties to even; NaN made quiet).
@inline(__always)
private func roundedBF16(_ v: SIMD4<Float>) -> SIMD4<Float> {
    let b = unsafeBitCast(v, to: SIMD4<UInt32>.self)
    let nearest = (b &+ 0x7FFF &+ ((b &>> 16) & 1)) & 0xFFFF_0000
    let quiet = (b | 0x0040_0000) & 0xFFFF_0000
    let r = nearest.replacing(with: quiet, where: (b & 0x7FFF_FFFF) .> 0x7F80_0000)
    return unsafeBitCast(r, to: SIMD4<Float>.self)
}

@inline(__always)
private func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self) }

@inline(__always)
private func load4(_ p: UnsafeMutablePointer<Float>) -> SIMD4<Float> { load4(UnsafePointer(p)) }

@inline(__always)
private func store4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
}

/// even[i] = row[2i], odd[i] = row[2i + 1] for i in 0..<count, zero where 2i (2i + 1) ≥ width.
@inline(__always)
private func deinterleave(_ row: UnsafePointer<Float>, _ width: Int, even: UnsafeMutablePointer<Float>,
                          odd: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 4 <= count && 2 * i + 8 <= width {
        let v = UnsafeRawPointer(row + 2 * i).loadUnaligned(as: SIMD8<Float>.self)
        store4(v.evenHalf, even + i)
        store4(v.oddHalf, odd + i)
        i += 4
    }
    while i < count {
        even[i] = 2 * i < width ? row[2 * i] : 0
        odd[i] = 2 * i + 1 < width ? row[2 * i + 1] : 0
        i += 1
    }
}

/// row[2i] = even[i], row[2i + 1] = odd[i] for the `width` elements of row.
@inline(__always)
private func interleave(even: UnsafePointer<Float>, odd: UnsafePointer<Float>, _ width: Int,
                        into row: UnsafeMutablePointer<Float>) {
    var i = 0
    while 2 * i + 8 <= width {
        let e = load4(even + i), o = load4(odd + i)
        let v = SIMD8<Float>(e[0], o[0], e[1], o[1], e[2], o[2], e[3], o[3])
        UnsafeMutableRawPointer(row + 2 * i).storeBytes(of: v, as: SIMD8<Float>.self)
        i += 4
    }
    while 2 * i < width {
        row[2 * i] = even[i]
        if 2 * i + 1 < width { row[2 * i + 1] = odd[i] }
        i += 1
    }
}

extension Conv3d {
    /// Whether an input of shape [N, in, D, H, W] goes through the Winograd path.
    public func takesWinograd(inputShape: [Int]) -> Bool { winogradPlan(for: inputShape) != nil }

    /// The Winograd plan for input shape `s` when this conv takes that path (see `algorithm`), else nil.
    func winogradPlan(for s: [Int]) -> WinogradPlan? {
        guard algorithm != .gemm,
              let plan = WinogradPlan(kernel: kernel, stride: stride, padding: padding, inputShape: s)
        else { return nil }
        if algorithm == .winograd { return plan }
        // Automatic: a first conv's 3 input channels give the transforms too little GEMM work to pay for. Below 64
        // tiles per clip (r2plus1d_18's layer4 at 16 frames: 32 and 49) Winograd is about as fast as vol2col (whole
        // model 0.699 vs 0.693 clips/s in back-to-back runs) while its transformed weights and per-thread partial
        // sums raise r2plus1d_18's peak memory from 5139 to 5259 MiB, above PyTorch's; C3D's
        // conv5 (128 tiles per clip) is 1.5× faster with it. The rule looks at one clip, not the batch, so that every
        // rank count and batch size computes with the same algorithms (and the same rounding).
        return inChannels >= 16 && outChannels >= 16 && plan.rowsPerClip * plan.tilesPerRow >= 64 ? plan : nil
    }

    /// How a batch's tile rows are cut into chunks and spread over the workers, and the size of each worker's two
    /// chunk buffers (transformed input and output; the first is followed by the plan's line buffer).
    struct WinogradChunking {
        let totalRows: Int, rowsPerChunk: Int, chunks: Int, workers: Int, bufferCount: Int
    }

    /// Chunking for a batch of `clips` clips, with every worker's buffers allocated (the scratch grows only outside
    /// the workers). Tile rows per chunk: the two buffers of P·max(in, out)·tiles floats stay within `winogradBudget`
    /// together, but where the transformed weights reach 32 MiB (C3D's conv4a and later) a chunk holds at least 256
    /// tiles: each chunk's GEMMs re-read all of them, and C3D 4 × 16 × 112 trained at 0.48 clips/s with chunks of 63
    /// tiles at conv4b and 0.50–0.56 with 256 (r2plus1d_18's layers already get 224+ tiles and keep their memory).
    /// There are at least as many chunks as threads when the batch allows.
    private func winogradChunking(_ plan: WinogradPlan, clips: Int) -> WinogradChunking {
        let totalRows = clips * plan.rowsPerClip, threads = BLAS.threads
        let perRow = 2 * plan.positions * max(inChannels, outChannels) * plan.tilesPerRow
        let byBudget = winogradBudget / perRow
        let large = plan.positions * inChannels * outChannels >= 8 << 20 && winogradBudget > 1
        let byTiles = large ? (256 + plan.tilesPerRow - 1) / plan.tilesPerRow : 1
        let rowsPerChunk = max(1, min(max(byBudget, byTiles), (totalRows + threads - 1) / threads))
        let chunks = (totalRows + rowsPerChunk - 1) / rowsPerChunk
        let c = WinogradChunking(totalRows: totalRows, rowsPerChunk: rowsPerChunk, chunks: chunks,
                                 workers: min(chunks, threads),
                                 bufferCount: plan.positions * max(inChannels, outChannels) * rowsPerChunk * plan.tilesPerRow)
        for wk in 0..<c.workers { _ = chunkBuffers(wk, c, plan) }
        return c
    }

    /// Worker `wk`'s two chunk buffers, its line buffer and its tile-row scratch (scratch slots 2wk and 2wk + 1).
    /// In bf16 the chunk buffers hold rounded tiles (`RoundedPointer`) where `scatter` writes them.
    private func chunkBuffers(_ wk: Int, _ c: WinogradChunking, _ plan: WinogradPlan)
        -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, line: UnsafeMutablePointer<Float>,
            row: UnsafeMutablePointer<Float>) {
        let a = scratch.pointer(2 * wk, count: c.bufferCount + plan.lineBufferCount + plan.tileRowScratchCount)
        let line = a + c.bufferCount
        return (a, scratch.pointer(2 * wk + 1, count: c.bufferCount), line, line + plan.lineBufferCount)
    }

    /// The transformed weights u [P, out, in] rounded to bf16 once per call (scratch slot `slot`), for the bf16
    /// GEMMs of every chunk; nil in fp32.
    private func roundedWeights(_ u: UnsafePointer<Float>, count: Int, slot: Int) -> RoundedPointer? {
        guard precision == .bf16 else { return nil }
        let r = RoundedPointer(scratch.pointer(slot, count: count))
        r.store(u, count: count)
        return r
    }

    /// Runs `body(rows, worker)` for the chunks of tile rows, spread over the workers by `distribute`.
    private func forEachChunk(_ c: WinogradChunking, _ body: (Range<Int>, Int) -> Void) {
        distribute(c.chunks, workers: c.workers) { k, w in
            body((k * c.rowsPerChunk)..<min(c.totalRows, (k + 1) * c.rowsPerChunk), w)
        }
    }

    /// Forward through the Winograd path: x [N, in, D, H, W] → y [N, out, D, H, W] (overwritten; no bias).
    func winogradForward(_ x: Tensor, _ y: Tensor, _ plan: WinogradPlan) {
        let p = plan.positions, cin = inChannels, cout = outChannels
        let c = winogradChunking(plan, clips: x.shape[0])
        let u = scratch.pointer(2 * c.workers, count: p * cout * cin)
        plan.transformWeights(store.values(weight), out: cout, in: cin, into: u)
        let u16 = roundedWeights(u, count: p * cout * cin, slot: 2 * c.workers + 1)
        let xp = UnsafePointer(x.data), yp = y.data
        forEachChunk(c) { rows, wk in
            let (v, m, line, row) = self.chunkBuffers(wk, c, plan)
            let tc = rows.count * plan.tilesPerRow
            if let u16 {
                let v16 = RoundedPointer(v, engine: u16.engine)
                plan.scatter(.floats(xp), channels: cin, rows: rows, patch: .input, into: row, line: line, rounded: v16)
                for xi in 0..<p {
                    GEMM.multiplyRounded(m: cout, n: tc, k: cin, a: u16.advanced(by: xi * cout * cin), lda: cin,
                                         b: v16.advanced(by: xi * cin * tc), ldb: tc, beta: 0, c: m + xi * cout * tc,
                                         ldc: tc)
                }
            } else {
                plan.scatter(.floats(xp), channels: cin, rows: rows, patch: .input, into: v, line: line)
                for xi in 0..<p {
                    // M[ξ] [out, T] = U[ξ] [out, in] · V[ξ] [in, T]
                    GEMM.multiply(m: cout, n: tc, k: cin, a: u + xi * cout * cin, lda: cin, b: v + xi * cin * tc,
                                  ldb: tc, beta: 0, c: m + xi * cout * tc, ldc: tc)
                }
            }
            plan.gather(m, channels: cout, rows: rows, into: yp, line: line)
        }
    }

    /// Backward through the Winograd path: dY [N, out, D, H, W] → writes dX [N, in, D, H, W] when given, and adds
    /// this batch's weight gradient into dW when `weightGrad`.
    /// The input is read as kept (`WinogradPlan.Source`), so a compact one is never widened whole.
    func winogradBackward(_ x: Kept, _ dY: Tensor, _ dx: Tensor?, weightGrad: Bool, _ plan: WinogradPlan) {
        let p = plan.positions, cin = inChannels, cout = outChannels, plane = cout * cin
        let c = winogradChunking(plan, clips: x.shape[0]), workers = c.workers
        // U is recomputed rather than kept from forward: the model's convs share this scratch.
        let u = scratch.pointer(2 * workers, count: p * plane)
        if dx != nil { plan.transformWeights(store.values(weight), out: cout, in: cin, into: u) }
        // Per-worker dU partial sums in slots 2W + 1 + w; U in bf16 after them.
        let partials = weightGrad ? (0..<workers).map { scratch.pointer(2 * workers + 1 + $0, count: p * plane) } : []
        for du in partials { du.update(repeating: 0, count: p * plane) }
        let bf16 = precision == .bf16
        let u16 = dx != nil ? roundedWeights(u, count: p * plane, slot: 3 * workers + 1) : nil
        let xs = WinogradPlan.Source(x), dys = WinogradPlan.Source.floats(dY.data)
        forEachChunk(c) { rows, wk in
            let (a, b, line, row) = self.chunkBuffers(wk, c, plan)
            let (a16, b16) = (RoundedPointer(a), RoundedPointer(b))
            let tc = rows.count * plan.tilesPerRow
            if weightGrad {
                let du = partials[wk]
                // The input's transform is recomputed here rather than kept from forward (P/2^a times x's size).
                if bf16 {
                    plan.scatter(xs, channels: cin, rows: rows, patch: .input, into: row, line: line, rounded: a16)
                    plan.scatter(dys, channels: cout, rows: rows, patch: .outputGradient, into: row, line: line,
                                 rounded: b16)
                } else {
                    plan.scatter(xs, channels: cin, rows: rows, patch: .input, into: a, line: line)
                    plan.scatter(dys, channels: cout, rows: rows, patch: .outputGradient, into: b, line: line)
                }
                for xi in 0..<p {
                    // dU[ξ] [out, in] += (A·dY)[ξ] [out, T] · V[ξ] [in, T]ᵀ
                    if bf16 {
                        GEMM.multiplyRounded(transB: true, m: cout, n: cin, k: tc, a: b16.advanced(by: xi * cout * tc),
                                             lda: tc, b: a16.advanced(by: xi * cin * tc), ldb: tc, beta: 1,
                                             c: du + xi * plane, ldc: cin)
                    } else {
                        GEMM.multiply(transB: true, m: cout, n: cin, k: tc, a: b + xi * cout * tc, lda: tc,
                                      b: a + xi * cin * tc, ldb: tc, beta: 1, c: du + xi * plane, ldc: cin)
                    }
                }
            }
            if let dx {
                if let u16 {
                    plan.scatter(dys, channels: cout, rows: rows, patch: .input, into: row, line: line, rounded: a16)
                } else {
                    plan.scatter(dys, channels: cout, rows: rows, patch: .input, into: a, line: line)
                }
                for xi in 0..<p {
                    // M[ξ] [in, T] = U[flip ξ]ᵀ [in, out] · V_dY[ξ] [out, T]
                    if let u16 {
                        GEMM.multiplyRounded(transA: true, m: cin, n: tc, k: cout,
                                             a: u16.advanced(by: plan.flipped[xi] * plane), lda: cin,
                                             b: a16.advanced(by: xi * cout * tc), ldb: tc, beta: 0,
                                             c: b + xi * cin * tc, ldc: tc)
                    } else {
                        GEMM.multiply(transA: true, m: cin, n: tc, k: cout, a: u + plan.flipped[xi] * plane, lda: cin,
                                      b: a + xi * cout * tc, ldb: tc, beta: 0, c: b + xi * cin * tc, ldc: tc)
                    }
                }
                plan.gather(b, channels: cin, rows: rows, into: dx.data, line: line)
            }
        }
        if let du0 = partials.first {
            addInOrder(partials.dropFirst(), into: du0, rows: p * cout, columns: cin)
            plan.accumulateWeightGradient(du0, out: cout, in: cin, into: store.gradient(weight))
        }
    }
}
