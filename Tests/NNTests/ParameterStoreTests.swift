// Tests: the parameter table lays tensors out back to back in registration order, per role.
import NN
import XCTest

final class ParameterStoreTests: XCTestCase {
    func testEntriesArePackedInRegistrationOrderPerRole() {
        let store = ParameterStore()
        let w = store.register("conv1.weight", shape: [4, 3, 3, 3, 3])
        let mean = store.register("bn1.running_mean", shape: [4], role: .buffer)
        let b = store.register("bn1.weight", shape: [4])
        let n = store.register("bn1.num_batches_tracked", shape: [], role: .counter)
        store.seal()
        XCTAssertEqual(store.entry(w).offset, 0)
        XCTAssertEqual(store.entry(b).offset, 324)
        XCTAssertEqual(store.entry(mean).offset, 0)
        XCTAssertEqual(store.entry(n).offset, 0)
        XCTAssertEqual(store.parameterCount, 328)
        XCTAssertEqual(store.counters, [0])
        store.values(b)[3] = 7
        XCTAssertEqual(store.parameters.pointer[327], 7)
        store.gradient(w)[0] = 1
        store.zeroGrad()
        XCTAssertEqual(store.gradients.buffer.max(), 0)
        XCTAssertEqual(store.handle(named: "bn1.weight"), b)
    }
}

final class WidthHintTests: XCTestCase {
    func testLoadingANarrowerModelSaysItIsNarrowerAndNamesWidth() throws {
        let dir = NSTemporaryDirectory() + "width-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let narrow = try Architecture.c3d.makeModel(classes: 3, width: 4, temporalStride: 2)
        try narrow.store.save(to: dir + "/w4.safetensors")
        let wide = try Architecture.c3d.makeModel(classes: 3, width: 8, temporalStride: 2)
        XCTAssertThrowsError(try wide.store.load(from: dir + "/w4.safetensors")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("2× narrower") && text.contains("--width"), text)
        }
    }
}
