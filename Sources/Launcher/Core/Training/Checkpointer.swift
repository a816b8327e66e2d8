// Launcher: checkpoints of a training run — writing them so that a kill at any instant leaves a loadable one,
// finding the newest complete one whatever a crash left behind, and keeping only the ones asked for.
//
// Layout under RUN/checkpoints:
//   step-00000120/          a complete checkpoint: model.safetensors, optimizer.safetensors, state.json
//   step-00000120-1/        a later save at the same step (e.g. the end of an epoch after --checkpoint-every)
//   last -> step-00000120-1 symbolic links: the paths users open
//   best -> step-00000100
//   .tmp-PID-N/             a save in progress; .trash-NAME/ a checkpoint being deleted (both removed at start)
//
// A save writes every file of a new directory under a temporary name (each file fsynced), fsyncs it, renames it to
// its step name, fsyncs the parent, and only then moves the `best` and `last` links (one rename each). Every rename
// leaves a complete newest checkpoint: before the directory's rename the previous one is newest; after it the new
// one is, even while `last` still points to the previous one. Deletion first renames a directory to `.trash-…`, so
// no half-deleted directory ever carries a step name.
import Foundation
import Inference
import NN
import Support

/// One step directory.
struct Checkpoint: Equatable {
    /// Directory name, e.g. `step-00000120-1`.
    let name: String
    let step: Int
    /// 0 for the first save at `step`, then 1, 2, …
    let revision: Int

    /// Parses `step-<step>[-<revision>]`; nil for any other name.
    init?(name: String) {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, parts[0] == "step", let step = Int(parts[1]) else { return nil }
        let revision = parts.count == 3 ? Int(parts[2]) : 0
        guard let revision else { return nil }
        self.name = name; self.step = step; self.revision = revision
    }

    init(step: Int, revision: Int) {
        self.step = step; self.revision = revision
        name = String(format: "step-%08d", step) + (revision > 0 ? "-\(revision)" : "")
    }

    /// Newer saves sort later.
    static func < (a: Checkpoint, b: Checkpoint) -> Bool { (a.step, a.revision) < (b.step, b.revision) }
}

/// A checkpoint that cannot be loaded, and why.
struct DamagedCheckpoint: Error, CustomStringConvertible {
    let directory: String
    let problem: String
    var description: String { "\(directory) is incomplete or damaged: \(problem)" }
}

/// What `--resume` found.
struct ResumePoint {
    /// The directory to load from.
    let directory: String
    let state: RunState
    /// Newer checkpoints that were skipped because they are damaged.
    let skipped: [DamagedCheckpoint]
}

final class Checkpointer {
    /// The weights file of a checkpoint directory (what `--weights DIR` and `--pretrained DIR` load).
    static let modelFile = Predictor.checkpointModelFile
    static let files = [modelFile, "optimizer.safetensors", "state.json"]

    /// RUN/checkpoints.
    let root: String
    /// Step checkpoints kept besides the ones `last` and `best` point to.
    let keep: Int
    private var saves = 0

    init(runDirectory: String, keep: Int = 0) {
        root = runDirectory + "/checkpoints"
        self.keep = keep
    }

    func path(_ name: String) -> String { root + "/" + name }

    // MARK: - Saving (rank 0)

    /// Writes a checkpoint of `model`, `optimizer` and `state` as a new step directory and points `last` (and
    /// `best` when `best`) at it; then deletes what `--keep-checkpoints` does not keep. Returns the directory.
    @discardableResult
    func save(model: ParameterStore, metadata: ModelMetadata, optimizer: TrainingOptimizer, state: RunState,
              best: Bool) throws -> String {
        let fm = FileManager.default
        saves += 1
        let tmp = path(".tmp-\(getpid())-\(saves)")
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try model.save(to: tmp + "/" + Checkpointer.modelFile, metadata: metadata.asStrings)
        try optimizer.save(to: tmp + "/optimizer.safetensors")
        try state.save(to: tmp + "/state.json")
        try AtomicFile.syncDirectory(tmp)

        let target = unusedName(step: state.step)
        try AtomicFile.commit(temporary: tmp, to: path(target.name))
        if best { try AtomicFile.replaceSymlink(at: path("best"), pointingTo: target.name) }
        try AtomicFile.replaceSymlink(at: path("last"), pointingTo: target.name)
        try prune()
        return path(target.name)
    }

    /// Step directories, oldest first.
    func stepCheckpoints() -> [Checkpoint] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.compactMap(Checkpoint.init(name:)).sorted(by: <)
    }

    /// The first revision of `step` that no directory has yet.
    private func unusedName(step: Int) -> Checkpoint {
        let taken = Set(stepCheckpoints().filter { $0.step == step }.map(\.revision))
        return Checkpoint(step: step, revision: (0...).first { !taken.contains($0) }!)
    }

    /// The step directory a link (`last`, `best`) points to, if it is a link to one.
    func target(of link: String) -> String? {
        guard let dest = try? FileManager.default.destinationOfSymbolicLink(atPath: path(link)) else { return nil }
        return Checkpoint(name: URL(fileURLWithPath: dest).lastPathComponent)?.name
    }

    /// Deletes step directories beyond the newest `keep` that neither `last` nor `best` points to (renamed to
    /// `.trash-…` first, so that a kill mid-delete leaves no partial checkpoint under a step name).
    func prune() throws {
        let pinned = Set(["last", "best"].compactMap(target(of:)))
        let all = stepCheckpoints()
        let kept = Set(all.suffix(keep).map(\.name)).union(pinned)
        for c in all where !kept.contains(c.name) { try discard(c.name) }
    }

    private func discard(_ name: String) throws {
        let trash = path(".trash-\(name)")
        try? FileManager.default.removeItem(atPath: trash)
        try move(name, to: ".trash-\(name)")
        try? FileManager.default.removeItem(atPath: trash)
    }

    /// Renames entry `name` of the checkpoint directory to `newName` and syncs the directory. Unlike
    /// `AtomicFile.commit`, a failure leaves the entry where it was (it is a checkpoint, not a temporary).
    private func move(_ name: String, to newName: String) throws {
        if rename(path(name), path(newName)) != 0 {
            throw FileWriteError(path: path(name), reason: "cannot rename it to \(newName): \(String(cString: strerror(errno)))")
        }
        try AtomicFile.syncDirectory(root)
    }

    // MARK: - Start of a run (rank 0)

    /// Clears what an interrupted save left (`.tmp-*`, `.trash-*`, link temporaries) and moves checkpoints of the
    /// older layout (`last/` and `best/` as real directories) into step directories behind links. Returns a line
    /// per thing done, for the log.
    func recover() throws -> [String] {
        let fm = FileManager.default
        guard fm.fileExists(atPath: root) else { return [] }
        var done: [String] = []
        for name in (try? fm.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(".") {
            try? fm.removeItem(atPath: path(name))
            done.append("removed \(name), left by an interrupted save")
        }
        for link in ["last", "best"] {
            var isDirectory: ObjCBool = false
            let p = path(link)
            guard (try? fm.destinationOfSymbolicLink(atPath: p)) == nil,
                  fm.fileExists(atPath: p, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            // A real directory from the older layout: give it a step name, then a link in its place (an unreadable
            // one is set aside under another name, so that the link can take its place).
            guard let state = try? RunState.load(from: p + "/state.json") else {
                try move(link, to: "\(link).damaged-\(getpid())")
                done.append("set \(link)/ aside as \(link).damaged-\(getpid())/: its state.json cannot be read")
                continue
            }
            let target = unusedName(step: state.step)
            try move(link, to: target.name)
            try AtomicFile.replaceSymlink(at: p, pointingTo: target.name)
            done.append("moved \(link)/ to \(target.name)/ behind a link")
        }
        return done
    }

    // MARK: - Resuming

    /// Checks that `directory` holds a loadable checkpoint: every file present, both safetensors files whole (their
    /// headers and lengths agree), the run state readable. Returns the run state.
    func verify(_ directory: String) throws -> RunState {
        let fm = FileManager.default
        for file in Self.files where !fm.fileExists(atPath: directory + "/" + file) {
            throw DamagedCheckpoint(directory: directory, problem: "\(file) is missing")
        }
        let state: RunState
        do { state = try RunState.load(from: directory + "/state.json") } catch {
            throw DamagedCheckpoint(directory: directory, problem: "state.json: \(error)")
        }
        for file in ["model.safetensors", "optimizer.safetensors"] {
            do { _ = try SafeTensorsFile(path: directory + "/" + file) } catch {
                throw DamagedCheckpoint(directory: directory, problem: "\(file): \(error)")
            }
        }
        return state
    }

    /// The checkpoint to resume from (call after `recover()`). `fallBack` (`--resume auto`): the newest complete step directory, skipping
    /// damaged newer ones; otherwise the newest step directory, which must be complete (a damaged one is an error
    /// naming the file). Returns nil when there is no checkpoint at all.
    func resumePoint(fallBack: Bool) throws -> ResumePoint? {
        // `recover()` has already turned a `last/` directory of the older layout into a step directory.
        let candidates = stepCheckpoints().reversed().map { path($0.name) }
        var skipped: [DamagedCheckpoint] = []
        for directory in candidates {
            do {
                let state = try verify(directory)
                // A kill between a save's directory rename and its link move leaves `last` one save behind (and a
                // fallback leaves it on a damaged one): point it at what the run continues from.
                let name = URL(fileURLWithPath: directory).lastPathComponent
                if Checkpoint(name: name) != nil && target(of: "last") != name {
                    try AtomicFile.replaceSymlink(at: path("last"), pointingTo: name)
                }
                return ResumePoint(directory: directory, state: state, skipped: skipped)
            } catch let damaged as DamagedCheckpoint {
                guard fallBack else {
                    throw ResumeError(path: directory, reason: "\(damaged.problem) (hint: --resume auto falls back to "
                                      + "the newest complete checkpoint)")
                }
                skipped.append(damaged)
            }
        }
        if !skipped.isEmpty {
            throw ResumeError(path: root, reason: "no complete checkpoint: "
                              + skipped.map(\.description).joined(separator: "; "))
        }
        return nil
    }
}
