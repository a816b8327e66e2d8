// Tests: the prefetching loader hands batches over in order, with the same content as loading them one by one on
// the caller's thread, and a sample's content does not depend on which batch (or rank) loads it.
import Foundation
import Shards
import XCTest

final class BatchLoaderTests: XCTestCase {
    private func dataset() throws -> ShardDataset {
        let dir = try ShardFixture.directory(self)
        try ShardFixture.write((0..<13).map { ShardFixture.clip($0, frames: 1 + $0 % 5, height: 10, width: 9) }, to: dir,
                               shards: 3, height: 10, width: 9)
        return try ShardDataset(path: dir)
    }

    private let transform = ClipTransform(temporal: TemporalSampling(frames: 4, stride: 1, speedRange: 0.8...1.25),
                                          cropSize: 8, training: true, seed: 3)

    func testPrefetchingWorkersDeliverBatchesInOrderWithTheSameContentAsInlineLoading() throws {
        let data = try dataset()
        let samples = DistributedSampler.globalEpoch(count: data.count, seed: 1, epoch: 0, rank: 0, worldSize: 1)
        let batches = DistributedSampler.batches(samples, batchSize: 2)
        let inline = BatchLoader(dataset: data, transform: transform, epoch: 0, batches: batches, workers: 0)
        let prefetch = BatchLoader(dataset: data, transform: transform, epoch: 0, batches: batches, workers: 3, queueDepth: 2)
        var count = 0
        while let a = try inline.next() {
            guard let b = try prefetch.next() else { return XCTFail("prefetching loader ended early at \(count)") }
            XCTAssertEqual(b.position, count)
            XCTAssertEqual(b.indices, batches[count].map { $0.index })
            XCTAssertEqual(b.labels, b.indices.map { data.label($0) })
            XCTAssertEqual(b.shape, [batches[count].count, 3, 4, 8, 8])
            XCTAssertEqual(a.data, b.data, "batch \(count) differs between inline and prefetched loading")
            count += 1
        }
        XCTAssertEqual(count, batches.count)
        XCTAssertNil(try prefetch.next())
        XCTAssertGreaterThanOrEqual(prefetch.waitSeconds, 0)
    }

    func testASampleLooksTheSameWhateverBatchOrWorldSizeLoadsIt() throws {
        let data = try dataset()
        // Two ranks of a world of 2 versus one rank alone: clip 5's tensor must be the same.
        func tensor(of index: Int, in batches: [[SampleRef]]) throws -> [Float] {
            let loader = BatchLoader(dataset: data, transform: transform, epoch: 4, batches: batches, workers: 1)
            let per = transform.floatsPerWindow
            while let b = try loader.next() {
                if let i = b.indices.firstIndex(of: index) { return Array(b.data[(i * per)..<((i + 1) * per)]) }
            }
            XCTFail("clip \(index) not loaded")
            return []
        }
        let alone = DistributedSampler.globalEpoch(count: data.count, seed: 1, epoch: 4, rank: 0, worldSize: 1)
        let pair = (0..<2).flatMap { DistributedSampler.globalEpoch(count: data.count, seed: 1, epoch: 4, rank: $0, worldSize: 2) }
        let a = try tensor(of: 5, in: DistributedSampler.batches(alone, batchSize: 4))
        let b = try tensor(of: 5, in: DistributedSampler.batches(pair, batchSize: 3))
        XCTAssertEqual(a, b)
    }

    func testEvaluationBatchesCarryKWindowsPerSampleAndPaddingFlags() throws {
        let data = try dataset()
        let eval = ClipTransform(temporal: TemporalSampling(frames: 2, stride: 2), cropSize: 8, training: false,
                                 evaluationClips: 3)
        let samples = DistributedSampler.globalEpoch(count: data.count, seed: 0, epoch: 0, rank: 1, worldSize: 4,
                                                     shuffle: false)
        let loader = BatchLoader(dataset: data, transform: eval, epoch: 0,
                                 batches: DistributedSampler.batches(samples, batchSize: 4), workers: 2)
        guard let batch = try loader.next() else { return XCTFail("no batch") }
        XCTAssertEqual(batch.shape, [4 * 3, 3, 2, 8, 8])
        XCTAssertEqual(batch.indices, [1, 5, 9, 0])
        XCTAssertEqual(batch.isPadding, [false, false, false, true])
        XCTAssertEqual(batch.windowsPerSample, 3)
    }

    func testALoaderDroppedMidEpochStopsItsWorkers() throws {
        let data = try dataset()
        let batches = DistributedSampler.batches((0..<data.count).map { SampleRef(index: $0) }, batchSize: 1)
        var loader: BatchLoader? = BatchLoader(dataset: data, transform: transform, epoch: 0, batches: batches,
                                               workers: 2, queueDepth: 1)
        XCTAssertNotNil(try loader?.next())
        loader = nil  // deinit must return (workers blocked on the full queue are woken and exit)
        XCTAssertNil(loader)
    }
    func testAShardThatDisappearsSurfacesAsATypedErrorFromNext() throws {
        let data = try dataset()
        try FileManager.default.removeItem(atPath: data.shards[1].path)
        let inShard1 = data.clipStarts[1]
        let batches = [[SampleRef(index: 0)], [SampleRef(index: inShard1)], [SampleRef(index: 1)]]
        let loader = BatchLoader(dataset: data, transform: transform, epoch: 0, batches: batches, workers: 2)
        XCTAssertEqual(try loader.next()?.indices, [0])
        XCTAssertThrowsError(try loader.next()) { error in
            let e = error as? ShardError
            XCTAssertEqual(e?.kind, .io, "\(error)")
            XCTAssertEqual(e?.path, data.shards[1].path)
        }
        XCTAssertEqual(try loader.next()?.indices, [1], "later batches still arrive in order")
    }
}
