// Tests: the one-rank communicator keeps the collectives' meaning, so code above it behaves as with mpirun -np 1.
import XCTest
import Distributed

final class SingleProcessCommunicatorTests: XCTestCase {
    func testOneRankCollectivesLeaveDataAsOneRankWouldSeeIt() throws {
        let comm = SingleProcessCommunicator()
        XCTAssertEqual(comm.rank, 0)
        XCTAssertEqual(comm.size, 1)
        var values: [Float] = [1, -2, 3.5]
        try comm.allreduce(&values, op: .sum)
        XCTAssertEqual(values, [1, -2, 3.5])
        var ints: [Int64] = [7, 8]
        try comm.broadcast(&ints, root: 0)
        XCTAssertEqual(ints, [7, 8])
        XCTAssertEqual(try comm.allgather([Int32(4), 5]), [4, 5])
        let pending = try values.withUnsafeMutableBufferPointer { try comm.startAllreduce($0, op: .max) }
        XCTAssertTrue(try pending.test())
        XCTAssertEqual(try comm.broadcast(bytes: Array("hello".utf8), root: 0), Array("hello".utf8))
    }

    func testBroadcastFromMissingRootIsAnError() {
        let comm = SingleProcessCommunicator()
        var values: [Double] = [1]
        XCTAssertThrowsError(try comm.broadcast(&values, root: 1)) { error in
            XCTAssertTrue("\(error)".contains("root 1"), "\(error)")
        }
    }
}
