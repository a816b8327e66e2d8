// Tests: freezing selects whole modules by state-dict prefix and rejects prefixes that name nothing.
import Foundation
import NN
import XCTest

final class FreezingTests: XCTestCase {
    private func store() -> ParameterStore {
        let s = ParameterStore()
        _ = s.register("layer1.0.conv1.weight", shape: [2])
        _ = s.register("layer1.0.bn1.running_mean", shape: [2], role: .buffer)
        _ = s.register("layer10.weight", shape: [2])
        _ = s.register("fc.weight", shape: [2])
        s.seal()
        return s
    }

    func testFreezingAPrefixFreezesThatModuleOnlyAndUnfreezeRestoresIt() throws {
        let s = store()
        try s.freeze(prefixes: ["layer1"])
        XCTAssertEqual(s.requiresGrad, [false, false, true, true], "layer10 is not inside layer1; buffers never train")
        XCTAssertEqual(s.trainableParameterCount, 4)
        try s.unfreeze(prefixes: ["layer1.0"])
        XCTAssertEqual(s.requiresGrad, [true, false, true, true])
        try s.freeze(prefixes: ["layer1", "layer10", "fc"])
        XCTAssertEqual(s.trainableParameterCount, 0)
        s.unfreezeAll()
        XCTAssertEqual(s.trainableParameterCount, 6)
    }

    func testUnknownPrefixFailsListingTopLevelModulesAndChangesNothing() {
        let s = store()
        XCTAssertThrowsError(try s.freeze(prefixes: ["fc", "layer"])) { error in
            let e = error as? ParameterPrefixError
            XCTAssertEqual(e?.prefix, "layer")
            XCTAssertEqual(e?.validTopLevel, ["fc", "layer1", "layer10"])
        }
        XCTAssertEqual(s.requiresGrad, [true, false, true, true], "fc stayed trainable")
        XCTAssertThrowsError(try s.validate(prefixes: ["layer1.1"]))
        XCTAssertNoThrow(try s.validate(prefixes: ["layer1.0.conv1", "fc.weight"]))
    }
}
