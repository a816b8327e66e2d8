// Tests: every rank's share of an epoch, and the frame windows taken from a clip.
import Foundation
import Shards
import Support
import XCTest

final class SamplerTests: XCTestCase {
    func testGlobalSamplerCoversEveryClipExactlyOnceAcrossRanksForSeveralWorldSizes() {
        for n in [1, 7, 10, 13] {
            for w in [1, 2, 3, 4, 8] {
                let perRank = (0..<w).map { DistributedSampler.globalEpoch(count: n, seed: 5, epoch: 2, rank: $0, worldSize: w) }
                XCTAssertEqual(Set(perRank.map { $0.count }).count, 1, "N=\(n) W=\(w): ranks run different step counts")
                let real = perRank.flatMap { $0 }.filter { !$0.isPadding }.map { $0.index }
                XCTAssertEqual(real.sorted(), Array(0..<n), "N=\(n) W=\(w)")
                let padding = perRank.flatMap { $0 }.filter { $0.isPadding }.count
                XCTAssertEqual(padding, perRank[0].count * w - n, "N=\(n) W=\(w)")
                // Positions r, r+W, … of one permutation, like torch's DistributedSampler.
                let order = DistributedSampler.permutation(count: n, seed: 5, epoch: 2)
                for r in 0..<w {
                    XCTAssertEqual(perRank[r].map { $0.index }, perRank[r].indices.map { order[(r + $0 * w) % n] })
                }
                let dropped = (0..<w).flatMap {
                    DistributedSampler.globalEpoch(count: n, seed: 5, epoch: 2, rank: $0, worldSize: w, dropLast: true)
                }
                XCTAssertEqual(dropped.count, (n / w) * w)
                XCTAssertEqual(Set(dropped.map { $0.index }).count, dropped.count, "dropLast repeats nothing")
                XCTAssertFalse(dropped.contains { $0.isPadding })
            }
        }
    }

    func testPermutationDependsOnlyOnSeedAndEpoch() {
        let a = DistributedSampler.permutation(count: 50, seed: 1, epoch: 3)
        XCTAssertEqual(a, DistributedSampler.permutation(count: 50, seed: 1, epoch: 3))
        XCTAssertNotEqual(a, DistributedSampler.permutation(count: 50, seed: 1, epoch: 4))
        XCTAssertNotEqual(a, DistributedSampler.permutation(count: 50, seed: 2, epoch: 3))
        XCTAssertNotEqual(a, Array(0..<50))
        XCTAssertEqual(a.sorted(), Array(0..<50))
    }

    func testLocalSamplerReadsOnlyTheRanksShardsAndFlagsRepeats() throws {
        let dir = try ShardFixture.directory(self)
        try ShardFixture.write((0..<11).map { ShardFixture.clip($0, frames: 1 + $0 % 2) }, to: dir, shards: 5)
        let dataset = try ShardDataset(path: dir)
        var all: [Int] = []
        for r in 0..<2 {
            let mine = DistributedSampler.localClips(dataset: dataset, rank: r, worldSize: 2)
            let owned = dataset.shards.indices.filter { $0 % 2 == r }
                .flatMap { dataset.clipStarts[$0]..<dataset.clipStarts[$0 + 1] }
            XCTAssertEqual(mine, owned)
            all += mine
            let samples = DistributedSampler.localEpoch(clips: mine, seed: 9, epoch: 1, rank: r, samples: mine.count + 3)
            XCTAssertEqual(samples.count, mine.count + 3)
            XCTAssertEqual(samples.prefix(mine.count).map { $0.index }.sorted(), mine.sorted(), "first pass covers each once")
            XCTAssertFalse(samples.prefix(mine.count).contains { $0.isPadding })
            XCTAssertTrue(samples.dropFirst(mine.count).allSatisfy { $0.isPadding && mine.contains($0.index) })
            XCTAssertEqual(samples, DistributedSampler.localEpoch(clips: mine, seed: 9, epoch: 1, rank: r,
                                                                   samples: mine.count + 3))
        }
        XCTAssertEqual(all.sorted(), Array(0..<11), "the two ranks' shards partition the split")
    }

    func testLocalSamplingNeedsOnlyTheRanksOwnShardsOnItsNode() throws {
        // A node of rank 1 of 2 holds shards 1 and 3 of 4 only (no shared file system).
        let dir = try ShardFixture.directory(self)
        try ShardFixture.write((0..<12).map { ShardFixture.clip($0, frames: 2) }, to: dir, shards: 4)
        let full = try ShardDataset(path: dir)
        for name in ["train-00000-of-00004.h5", "train-00002-of-00004.h5"] {
            try FileManager.default.removeItem(atPath: (dir as NSString).appendingPathComponent(name))
        }
        XCTAssertThrowsError(try ShardDataset(path: dir), "a split with missing shards must not open as a whole")
        let mine = try ShardDataset(path: dir, owned: { $0 % 2 == 1 })
        XCTAssertEqual(mine.shards.map { $0.attributes.shardIndex }, [1, 3])
        XCTAssertEqual(mine.count, full.shards[1].clipCount + full.shards[3].clipCount)
        XCTAssertEqual(DistributedSampler.localClips(dataset: mine, rank: 1, worldSize: 2), Array(0..<mine.count))
        XCTAssertThrowsError(try ShardDataset(path: dir, owned: { $0 % 2 == 0 })) { error in
            XCTAssertTrue("\(error)".contains("no shards") || "\(error)".contains("expected"), "\(error)")
        }
    }

    func testBatchesKeepOrDropTheShortTail() {
        let samples = (0..<7).map { SampleRef(index: $0) }
        XCTAssertEqual(DistributedSampler.batches(samples, batchSize: 3).map { $0.count }, [3, 3, 1])
        XCTAssertEqual(DistributedSampler.batches(samples, batchSize: 3, dropLast: true).map { $0.count }, [3, 3])
    }

    func testTrainingWindowsStayInTheClipMoveForwardAndJitter() {
        let sampling = TemporalSampling(frames: 4, stride: 2, speedRange: 0.5...1.5)
        var starts = Set<Int>()
        for i in 0..<200 {
            var rng = SeededRandom(keys: 1, 0, UInt64(i))
            let idx = sampling.trainingIndices(frameCount: 20, rng: &rng)
            XCTAssertEqual(idx.count, 4)
            XCTAssertTrue(idx.allSatisfy { (0..<20).contains($0) }, "\(idx)")
            XCTAssertEqual(idx, idx.sorted(), "time never runs backwards: \(idx)")
            starts.insert(idx[0])
        }
        XCTAssertGreaterThan(starts.count, 5, "the window start jitters")
        var rng = SeededRandom(keys: 1, 0, 0)
        XCTAssertEqual(TemporalSampling(frames: 4, stride: 2).trainingIndices(frameCount: 1, rng: &rng), [0, 0, 0, 0])
    }

    func testEvaluationWindowsAreCentredOrEvenlySpacedAndPadShortClipsWithEdgeFrames() {
        let sampling = TemporalSampling(frames: 4, stride: 2)  // a window spans 7 frames
        XCTAssertEqual(sampling.centredIndices(frameCount: 11), [2, 4, 6, 8])
        XCTAssertEqual(sampling.evaluationWindows(frameCount: 11, count: 3), [[0, 2, 4, 6], [2, 4, 6, 8], [4, 6, 8, 10]])
        // 3 frames in a 7-frame window: centred, edge frames repeated on both sides.
        XCTAssertEqual(sampling.centredIndices(frameCount: 3), [0, 0, 2, 2])
        XCTAssertEqual(TemporalSampling(frames: 5, stride: 1).centredIndices(frameCount: 1), [0, 0, 0, 0, 0])
    }
    func testEpochBatchesGiveEveryRankTheSameStepCountInBothModes() throws {
        let dir = try ShardFixture.directory(self)
        try ShardFixture.write((0..<17).map { ShardFixture.clip($0, frames: 1) }, to: dir, shards: 6)
        let dataset = try ShardDataset(path: dir)
        for w in [1, 2, 3] {
            let global = (0..<w).map {
                DistributedSampler.epochBatches(mode: .global, dataset: dataset, seed: 4, epoch: 0, rank: $0, worldSize: w,
                                                batchSize: 2)
            }
            XCTAssertEqual(Set(global.map { $0.count }).count, 1, "W=\(w) global")
            XCTAssertEqual(global.flatMap { $0.flatMap { $0 } }.filter { !$0.isPadding }.map { $0.index }.sorted(),
                           Array(0..<17))
            let steps = (0..<w).map { DistributedSampler.localClips(dataset: dataset, rank: $0, worldSize: w).count / 2 }.min()!
            let local = (0..<w).map {
                DistributedSampler.epochBatches(mode: .local, dataset: dataset, seed: 4, epoch: 0, rank: $0, worldSize: w,
                                                batchSize: 2, localSteps: steps)
            }
            XCTAssertEqual(local.map { $0.count }, Array(repeating: steps, count: w), "W=\(w) local")
            for r in 0..<w {
                let mine = Set(DistributedSampler.localClips(dataset: dataset, rank: r, worldSize: w))
                XCTAssertTrue(local[r].joined().allSatisfy { mine.contains($0.index) })
            }
        }
    }
}
