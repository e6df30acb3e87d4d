import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// The epoch loop: steps, progress, validation and test at each epoch's end, checkpoints.
extension TrainingRun {
    /// One epoch's training steps in a seeded order; returns the summed losses and the step count.
    /// - Throws: `.diverged` when a loss is not finite or exceeds 1000 × the first.
    func trainEpoch(
        _ epoch: Int, train: Transitions, trainer: Trainer, model rec: SequentialRecommender, data: SessionData,
        validation: [Int], clock: inout TrainingClock, writer: Bool
    ) throws(RecRLError) -> (total: Double, ce: Double, q: Double, steps: Int) {
        let progress = writer ? progress : nil
        let t0 = Date()
        let stepsPerEpoch = (train.count + settings.batch - 1) / settings.batch
        let order = shuffledIndices(train.count, seed: settings.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var lastPrint = Date()
        var sums = (total: 0.0, ce: 0.0, q: 0.0, steps: 0)
        for b in 0..<stepsPerEpoch {
            let batch = Array(order[(b * settings.batch)..<min(order.count, (b + 1) * settings.batch)])
            let l = try step(trainer, train, batch: batch, clock: &clock)
            sums.total += l.total
            sums.ce += l.ce
            sums.q += l.q
            sums.steps += 1
            clock.sequences += batch.count
            if let progress, Date().timeIntervalSince(lastPrint) >= progressSeconds {
                lastPrint = Date()
                let rate = Double(clock.sequences) / max(clock.trainSeconds + Date().timeIntervalSince(t0), 1e-9)
                let left = Double((epochs - epoch) * stepsPerEpoch - b - 1) * Double(settings.batch) / max(rate, 1e-9)
                progress(
                    cFormat(
                        "epoch %ld/%ld step %ld  %.0f seq/s  CE %.4f  Q %.5f  ETA ", epoch + 1, epochs, trainer.step,
                        rate, l.ce, l.q) + formatDuration(left))
            }
            if validateEvery > 0, trainer.step % validateEvery == 0, let progress, !validation.isEmpty {
                let v = try Evaluation.run(
                    ModelRanker(model: rec), data: data, sessions: validation, length: model.length)
                progress(
                    "step \(trainer.step) validation: "
                        + v.flat.filter { $0.name.hasSuffix("@10") }.map {
                            "\($0.name) \(cFormat("%.4f", $0.value))"
                        }.joined(separator: "  "))
            }
        }
        return sums
    }

    /// One training step, with the divergence checks.
    func step(_ trainer: Trainer, _ train: Transitions, batch: [Int], clock: inout TrainingClock) throws(RecRLError)
        -> StepLosses
    {
        let l: StepLosses
        do { l = try trainer.train(train, batch: batch) } catch {
            if case .diverged(let s, let m, _) = error {
                throw .diverged(step: s, message: m, checkpoint: existing(path("last.safetensors")))
            }
            throw error
        }
        if clock.lossScale == nil { clock.lossScale = max(1, l.total) }
        if !(l.total < 1000 * clock.lossScale!) {
            throw .diverged(
                step: trainer.step, message: "loss exploded to \(l.total) (first loss \(clock.lossScale!))",
                checkpoint: existing(path("last.safetensors")))
        }
        return l
    }

    /// Evaluates the epoch's model on the validation and test sessions, adds the epoch to the
    /// report (and makes it the best when it is), and writes last.safetensors (and
    /// best.safetensors) atomically.
    func finishEpoch(
        _ epoch: Int, losses: (total: Double, ce: Double, q: Double, steps: Int), seconds: () -> Double,
        model rec: SequentialRecommender, trainer: Trainer, data: SessionData, split: SessionSplit,
        clock: TrainingClock, selectBy: SelectionMetric, report: inout Report
    ) throws(RecRLError) {
        let val = try Evaluation.run(
            ModelRanker(model: rec), data: data, sessions: split.validation, length: model.length)
        let test = try Evaluation.run(ModelRanker(model: rec), data: data, sessions: split.test, length: model.length)
        let testQ =
            evaluateQHead && model.algorithm.usesQ
            ? try Evaluation.run(
                ModelRanker(model: rec, head: .q), data: data, sessions: split.test, length: model.length) : nil
        let n = Double(max(losses.steps, 1))
        let er = EpochReport(
            epoch: epoch, step: trainer.step, loss: losses.total / n, validation: val, test: test, testQ: testQ,
            seconds: seconds(), ceLoss: losses.ce / n, qLoss: losses.q / n)
        report.epochs.append(er)
        let score = selectBy.value(in: val)
        let bestSoFar = report.bestEpoch < 0 || score > selectBy.value(in: report.best.validation)
        if bestSoFar { report.bestEpoch = epoch }
        report.sequencesPerSecond = Double(clock.sequences) / max(clock.trainSeconds, 1e-9)
        if let group {
            report.processes = group.size
            report.gradientTraffic = trainer.traffic
        }
        progress?(
            cFormat("epoch %ld/%ld done: loss %.4f, validation ", epoch + 1, epochs, er.loss) + report.selectBy
                + cFormat(" %.4f", score) + (bestSoFar ? " (best)" : "") + cFormat(", %.1f s", er.seconds))
        if let lastPath = path("last.safetensors"), let bestPath = path("best.safetensors") {
            let rj = String(decoding: (try? JSONOutput.encode(report).data) ?? Data(), as: UTF8.self)
            let fields = runFields(data: data, split: split)
            let run = String(decoding: (try? JSONOutput.encode(fields).data) ?? Data(), as: UTF8.self)
            // The last and best checkpoints are replaced together or not at all (a full disk
            // leaves the previous epoch's pair).
            var files = [
                (
                    data: try rec.checkpoint(
                        extra: trainer.stateTensors(),
                        metadata: ["epoch": "\(epoch)", "step": "\(trainer.step)", "report": rj, "run": run],
                        what: lastPath),
                    path: lastPath
                )
            ]
            if bestSoFar {
                files.append(
                    (
                        data: try rec.checkpoint(
                            metadata: ["epoch": "\(epoch)", "step": "\(trainer.step)"], what: bestPath), path: bestPath
                    ))
            }
            do { try AtomicFile.write(files) } catch { throw .io(error) }
        }
    }

    /// Writes metrics.json (every epoch's report) atomically.
    func writeMetrics(_ report: Report) throws(RecRLError) {
        guard let path = path("metrics.json") else { return }
        do {
            let (d, nonFinite) = try JSONOutput.encode(report, pretty: true, what: path)
            if let w = JSONOutput.warning(nonFinite, in: path) { progress?(w) }
            try AtomicFile.write(d, to: path)
        } catch { throw .io(error) }
    }

    /// Every process of a group must train the same model on the same data with the same
    /// settings; a process that differs would silently pull the others' parameters elsewhere.
    func checkSameRun(_ group: ProcessGroup, data: SessionData, transitions: Int) throws(RecRLError) {
        // Dictionaries and sets are printed sorted: their order differs between processes.
        let rewardList = rewards.rewards.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let description =
            "\(model)|\(settings)|\(epochs)|\(rewardList)|\(rewards.priceScaling)|\(rewards.given.sorted())|\(gamma)|\(resume)|\(transitions)|\(data.itemKeys.count)|"
            + "\(data.eventCount)|\(data.sessionCount)|\(data.itemKeys.first ?? "")|\(data.itemKeys.last ?? "")"
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in description.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let mine = [Int32(truncatingIfNeeded: hash), Int32(truncatingIfNeeded: hash >> 32)]
        let all = try group.allGather(mine)
        if let other = all.firstIndex(where: { $0 != all[0] }) {
            throw .invalidParameter(
                "process \(other) of the group has other training options or data than process 0 "
                    + "(every process must run the same command on the same data)")
        }
    }
}
