import RecCore
import RecIO
import RecNN

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

// The run directory: one run per folder, and resuming the run a folder holds.
extension TrainingRun {
    /// Makes the output directory ready for a new run, before anything is written to it: created
    /// if missing; when it holds a run (checkpoints or metrics), an error unless `overwrite`;
    /// then (and when only a split or report is left by a run that failed early) every one of
    /// `runFiles` is removed, so the new run's split and checkpoints are never mixed with the
    /// old run's. With `resume` nothing is touched.
    /// - Throws: `.invalidParameter` naming the directory and the run files it holds.
    public func prepareRunDirectory() throws(RecRLError) {
        guard let dir = outputDirectory, !resume else { return }
        do { try Directory.create(dir) } catch { throw .io(error) }
        let held = Self.runFiles.filter { existing(path($0)) != nil }
        guard !held.isEmpty else { return }
        // A split or report without checkpoints is what a run that failed before its first epoch
        // leaves: nothing to keep.
        let isRun = held.contains { ["last.safetensors", "best.safetensors", "metrics.json"].contains($0) }
        guard overwrite || !isRun else {
            throw .invalidParameter(
                "\(dir) already holds a run (\(held.joined(separator: ", "))): give --overwrite to replace it, "
                    + "--resume to continue it, or another --out")
        }
        for name in held {
            guard let p = path(name), unlink(p) == 0 || errno == ENOENT else {
                throw .io(.cannotWrite(file: path(name) ?? name, reason: "cannot remove the old run's file"))
            }
        }
    }

    /// Creates the output directory and removes the temporaries a killed run left behind; a new
    /// run refuses a directory that holds another run's checkpoints (`prepareRunDirectory`).
    func prepareOutputDirectory() throws(RecRLError) {
        guard let dir = outputDirectory else { return }
        // The split (and report) a caller wrote after `prepareRunDirectory` belong to this run;
        // checkpoints there belong to another.
        if !resume
            && ["last.safetensors", "best.safetensors", "metrics.json"].contains(where: { existing(path($0)) != nil })
        {
            try prepareRunDirectory()
        }
        do { try Directory.create(dir) } catch { throw .io(error) }
        for name in ["last.safetensors", "best.safetensors", "metrics.json"] {
            let removed = AtomicFile.removeStaleTemporaries(of: PathText.join(dir, name))
            if removed > 0 { progress?("removed \(removed) temporary file(s) of \(name) left by a killed run") }
        }
    }

    /// Restores the model, the optimiser state and the report from `lastPath`; returns the report
    /// and the first epoch still to train.
    func resumeFrom(
        _ lastPath: String, model rec: SequentialRecommender, trainer: Trainer, data: SessionData,
        split: SessionSplit, selectBy: String, report initial: Report
    ) throws(RecRLError) -> (Report, Int) {
        var report = initial
        let (saved, tensors, meta) = try SequentialRecommender.load(from: lastPath)
        guard saved.config == model else {
            throw .model(
                "\(lastPath): the checkpoint's model differs from the requested one (\(saved.config.differences(from: model)))"
            )
        }
        guard saved.itemKeys == data.itemKeys else {
            throw .model("\(lastPath): the checkpoint's item vocabulary differs from this data's")
        }
        if let stored = meta["run"] {
            guard let saved = try? JSONDecoder().decode([String: String].self, from: Data(stored.utf8)) else {
                throw .model("\(lastPath): metadata 'run' is damaged; cannot resume from it")
            }
            let now = runFields(data: data, split: split)
            let changed = now.keys.sorted().filter { saved[$0] != now[$0] }.map {
                "\($0) \(clipped(now[$0]!, limit: 80)) (the checkpoint's: \(clipped(saved[$0] ?? "none", limit: 80)))"
            }
            guard changed.isEmpty else {
                throw .invalidParameter(
                    "resume: \(lastPath) was trained with other settings: \(changed.joined(separator: "; ")); "
                        + "resume with the checkpoint's, or start a new run (--overwrite)")
            }
        } else {
            progress?("\(lastPath) predates the run's recorded settings: they are not checked on resume")
        }
        try rec.restore(tensors, file: lastPath)
        guard let e = meta["epoch"].flatMap(Int.init), let s = meta["step"].flatMap(Int.init) else {
            throw .model("\(lastPath): no epoch/step metadata to resume from")
        }
        try trainer.restore(tensors, step: s, file: lastPath)
        if let r = meta["report"], let old = try? JSONDecoder().decode(Report.self, from: Data(r.utf8)) {
            report = old
        }
        guard e + 1 <= epochs else {
            throw .invalidParameter(
                "\(lastPath) has already trained \(e + 1) epochs, more than the \(epochs) asked "
                    + "for (ask for more epochs to continue it)")
        }
        guard report.epochs.contains(where: { $0.epoch == report.bestEpoch }), report.selectBy == selectBy else {
            throw .model(
                "\(lastPath): its metadata 'report' is missing, damaged or selects by another metric "
                    + "(\(clipped(report.selectBy))); cannot resume from it")
        }
        if e + 1 == epochs { progress?("\(lastPath) has already trained all \(epochs) epochs: nothing to train") }
        progress?("resumed from \(lastPath) after epoch \(e + 1) (step \(s))")
        return (report, e + 1)
    }

    /// Training time and sequences so far, and the first step's loss (the divergence check's scale).
    struct TrainingClock {
        var trainSeconds = 0.0
        var sequences = 0
        var lossScale: Double?
    }
}
