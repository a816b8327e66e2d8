// Tests: gradient clipping matches clip_grad_norm_ on the trainable gradients only; non-finite gradients are found.
import Foundation
import NN
import XCTest

final class GradientClippingTests: XCTestCase {
    private func store(_ trainable: [Float], _ frozen: [Float]) -> ParameterStore {
        let s = ParameterStore()
        let a = s.register("a.weight", shape: [trainable.count - 1]), b = s.register("b.bias", shape: [1])
        let f = s.register("frozen.weight", shape: [frozen.count])
        s.seal()
        for j in 0..<(trainable.count - 1) { s.gradient(a)[j] = trainable[j] }
        s.gradient(b)[0] = trainable.last!
        for (j, x) in frozen.enumerated() { s.gradient(f)[j] = x }
        try! s.freeze(prefixes: ["frozen"])
        return s
    }

    func testClipScalesTrainableGradientsLikeClipGradNormAndReturnsThePreClipNorm() {
        let s = store([3, 4, 12], [1000, 1000])
        let norm = s.clipGradientNorm(maxNorm: 6.5)
        XCTAssertEqual(norm, 13, accuracy: 1e-6, "frozen gradients are not counted")
        let scale: Float = 6.5 / (13 + 1e-6)
        let got = Array(s.gradients.buffer)
        let want: [Float] = [3 * scale, 4 * scale, 12 * scale, 1000, 1000]
        XCTAssertLessThan(maxAbsDiff(got, want), 1e-6, "got \(got)")
        XCTAssertEqual(s.trainableGradientNorm(), 6.5, accuracy: 1e-5)

        let small = store([3, 4, 12], [1])
        XCTAssertEqual(small.clipGradientNorm(maxNorm: 20), 13, accuracy: 1e-6)
        XCTAssertEqual(Array(small.gradients.buffer), [3, 4, 12, 1], "below max_norm nothing changes")
    }

    func testNonFiniteTrainableGradientsAreDetectedAndFrozenOnesIgnored() {
        XCTAssertTrue(store([1, 2, 3], [.infinity]).gradientsAreFinite())
        XCTAssertFalse(store([1, .nan, 3], [0]).gradientsAreFinite())
        XCTAssertFalse(store([1, 2, -.infinity], [0]).gradientsAreFinite())
        let s = store([1, .nan, 3], [0])
        XCTAssertTrue(s.clipGradientNorm(maxNorm: 1).isNaN)
        XCTAssertEqual(s.gradients.pointer[0], 1, "a non-finite norm leaves gradients for the caller to handle")
    }
}
