// Tests: both fast convolutions (vol2col + sgemm, Winograd F(2,3)) equal the direct 7-loop reference on odd shapes,
// forward and backward.
import NN
import XCTest

final class Conv3dFastPathTests: XCTestCase {
    struct Case { let input: [Int]; let out: Int; let kernel: [Int]; let stride: [Int]; let padding: [Int]; let bias: Bool }

    let cases = [
        Case(input: [2, 3, 5, 6, 7], out: 5, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1], bias: true),
        Case(input: [1, 2, 3, 9, 11], out: 4, kernel: [1, 7, 7], stride: [1, 2, 2], padding: [0, 3, 3], bias: false),
        Case(input: [2, 4, 5, 3, 4], out: 3, kernel: [3, 1, 1], stride: [2, 1, 1], padding: [1, 0, 0], bias: false),
        Case(input: [1, 3, 6, 5, 8], out: 2, kernel: [2, 3, 1], stride: [2, 1, 3], padding: [0, 2, 1], bias: true),
        Case(input: [2, 4, 3, 4, 5], out: 3, kernel: [1, 1, 1], stride: [1, 1, 1], padding: [0, 0, 0], bias: true),
        Case(input: [2, 4, 5, 5, 5], out: 6, kernel: [1, 1, 1], stride: [2, 2, 2], padding: [0, 0, 0], bias: false),
        Case(input: [1, 2, 1, 4, 4], out: 3, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1], bias: false),
        Case(input: [1, 2, 4, 3, 3], out: 2, kernel: [1, 5, 5], stride: [1, 3, 3], padding: [0, 1, 1], bias: false),
        Case(input: [2, 4, 5, 7, 9], out: 6, kernel: [1, 3, 3], stride: [1, 1, 1], padding: [0, 1, 1], bias: false),
        Case(input: [2, 5, 7, 3, 4], out: 4, kernel: [3, 1, 1], stride: [1, 1, 1], padding: [1, 0, 0], bias: true),
        Case(input: [1, 3, 4, 5, 1], out: 2, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1], bias: false),
        Case(input: [2, 3, 3, 4, 6], out: 5, kernel: [3, 3, 1], stride: [1, 1, 1], padding: [1, 1, 0], bias: false),
    ]

    func testFastConv3dMatchesDirectReferenceForwardAndBackward() throws {
        try checkCases(columnBudget: nil)
    }

    func testChunkedFastConv3dMatchesDirectReference() throws {
        // A budget this small splits every clip into one-row chunks, the most boundaries possible.
        try checkCases(columnBudget: 1)
    }

    func testWinogradConv3dMatchesDirectReference() throws {
        // Six of the cases have only stride-1 "same" 3-tap axes and take Winograd; the others check the fallback.
        try checkCases(columnBudget: nil, algorithm: .winograd)
    }

    func testChunkedWinogradConv3dMatchesDirectReference() throws {
        // One tile row per chunk: every chunk boundary, and dW partial sums from every worker.
        try checkCases(columnBudget: 1, algorithm: .winograd)
    }

    private func checkCases(columnBudget: Int?, algorithm: ConvAlgorithm = .gemm) throws {
        var winogradCases = 0
        defer { XCTAssertEqual(winogradCases, algorithm == .winograd ? 6 : 0, "cases that took Winograd") }
        for (k, c) in cases.enumerated() {
            let store = ParameterStore()
            let conv = Conv3d(store: store, name: "c", inChannels: c.input[1], outChannels: c.out, kernel: c.kernel,
                              stride: c.stride, padding: c.padding, bias: c.bias)
            store.seal()
            conv.algorithm = algorithm
            if let columnBudget { conv.columnBudget = columnBudget; conv.winogradBudget = columnBudget }
            if conv.takesWinograd(inputShape: c.input) { winogradCases += 1 }
            fillRandom(store.parameters.pointer, store.parameterCount, seed: UInt64(k), scale: 0.5)
            let x = randomTensor(c.input, seed: UInt64(100 + k))
            let y = try conv.forward(x, training: true).copy()
            let yRef = try conv.referenceForward(x)
            XCTAssertEqual(y.shape, yRef.shape, "case \(k)")
            let fwd = maxAbsDiff(y.data, yRef.data, y.count)
            XCTAssertLessThan(fwd, 1e-4, "case \(k) forward max diff \(fwd)")

            let dY = randomTensor(y.shape, seed: UInt64(200 + k))
            store.zeroGrad()
            let dX = try conv.backward(dY.copy())
            let ref = try conv.referenceBackward(x, dY)
            let dxDiff = maxAbsDiff(dX.data, ref.dX.data, dX.count)
            let dwDiff = maxAbsDiff(store.gradient(conv.weight), ref.dW.data, ref.dW.count)
            XCTAssertLessThan(dxDiff, 1e-4, "case \(k) dX max diff \(dxDiff)")
            XCTAssertLessThan(dwDiff, 1e-3, "case \(k) dW max diff \(dwDiff)")
            if let b = conv.bias {
                let dbDiff = maxAbsDiff(store.gradient(b), ref.dB.data, c.out)
                XCTAssertLessThan(dbDiff, 1e-3, "case \(k) dB max diff \(dbDiff)")
            }
            // Weight gradients accumulate: a second backward doubles them.
            _ = try conv.forward(x, training: true)
            _ = try conv.backward(dY.copy(), inputGradient: false)
            let doubled = (0..<ref.dW.count).map { 2 * ref.dW.data[$0] }
            let accDiff = doubled.withUnsafeBufferPointer { maxAbsDiff(store.gradient(conv.weight), $0.baseAddress!, ref.dW.count) }
            XCTAssertLessThan(accDiff, 2e-3, "case \(k) accumulated dW max diff \(accDiff)")
        }
    }
}
