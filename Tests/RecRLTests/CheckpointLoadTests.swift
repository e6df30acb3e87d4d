import Foundation
import RecCore
import RecNN
import RecRL
import Testing

/// Every checkpoint a run writes loads back: the size check a checkpoint's header passes before
/// the model is allocated counts exactly the tensors the network builds, for every shape option.
@Suite struct CheckpointLoadTests {
    /// `ModelConfig.parameterCount` is the values one `QNetwork` holds, for every algorithm,
    /// encoder, layout, projection option and block count (an over-count refuses a checkpoint that
    /// holds one network, as CE's did).
    @Test func parameterCountIsExact() throws {
        for alg in Algorithm.allCases {
            for encoder in EncoderKind.allCases {
                for layout in [SASRec.Layout.original, .preLN, .postLN] {
                    for projection in [nil, true, false] as [Bool?] {
                        for blocks in [1, 2] {
                            var c = ModelConfig(items: 17)
                            c.algorithm = alg
                            c.encoder = encoder
                            c.layout = layout
                            c.attentionOutputProjection = projection
                            c.blocks = blocks
                            c.dim = 8
                            c.length = 5
                            let built = QNetwork(c, seed: 1).parameters.reduce(0) { $0 + $1.value.storage.count }
                            #expect(c.parameterCount == built, "\(c)")
                            #expect(
                                SequentialRecommender(
                                    config: c, itemKeys: (1...17).map(String.init), eventTypes: ["click"], seed: 1
                                ).networks.count == c.networkCount)
                        }
                    }
                }
            }
        }
    }

    /// Each algorithm with each encoder trained for one epoch: `best.safetensors` (the networks
    /// alone) and `last.safetensors` (with the optimiser's state) load into the same model, and
    /// the loaded model scores as the trained one did.
    @Test(arguments: Algorithm.allCases)
    func checkpointsOfEveryAlgorithmLoad(alg: Algorithm) throws {
        let data = try syntheticData(sessions: 30)
        let split = SessionSplit.random(sessions: data.sessionCount, seed: 1)
        for encoder in EncoderKind.allCases {
            let dir = FileManager.default.temporaryDirectory
                .appendingPathComponent("reckit-load-\(alg.rawValue)-\(encoder.rawValue)-\(getpid())").path
            try? FileManager.default.removeItem(atPath: dir)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var run = TrainingRun(model: smallConfig(alg, items: data.itemCount))
            run.model.encoder = encoder
            run.settings.batch = 16
            run.settings.negatives = 2
            run.epochs = 1
            run.outputDirectory = dir
            let trained = try run.run(data: data, split: split).model
            let history = [[1, 2, 3, 0]]
            let want = try trained.scores(history)
            for file in ["best.safetensors", "last.safetensors"] {
                let loaded = try SequentialRecommender.load(from: dir + "/" + file).model
                #expect(loaded.config == run.model, "\(alg) \(encoder) \(file)")
                #expect(loaded.networks.count == trained.networks.count)
                #expect(try loaded.scores(history).storage == want.storage, "\(alg) \(encoder) \(file)")
                if alg.usesQ {
                    #expect(try loaded.scores(history, head: .q).storage == trained.scores(history, head: .q).storage)
                }
            }
        }
    }

    /// A NaN or infinite weight in a checkpoint is refused at loading (it scored every item NaN:
    /// HR 0 with exit status 0).
    @Test func nonFiniteWeightsAreRefused() throws {
        let keys = (1...6).map(String.init)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-nan-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for bad in [Float.nan, .infinity] {
            let m = SequentialRecommender(
                config: smallConfig(.ce, items: 6), itemKeys: keys, eventTypes: ["click"], seed: 1)
            let w = m.networks[0].ceHead.weight.value
            var values = w.storage
            values[3] = bad
            m.networks[0].ceHead.weight.value = Matrix(rows: w.rows, cols: w.cols, elements: values)
            try m.save(to: dir + "/m.safetensors")
            #expect {
                _ = try SequentialRecommender.load(from: dir + "/m.safetensors")
            } throws: { error in
                "\(error)".contains("tensor 'net0.ce_head.weight' holds \(bad) at index 3")
            }
        }
    }
}
