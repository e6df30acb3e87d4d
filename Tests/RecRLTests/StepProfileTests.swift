import Foundation
import RecCore
import RecNN
import RecRL
import Testing

@Suite struct StepProfileTests {
    /// Timing the phases counts every step, times every phase the algorithm has, and leaves the
    /// parameters exactly as an untimed run does.
    @Test(arguments: [Algorithm.ce, .sqn])
    func profileTimesPhasesWithoutChangingTheStep(alg: Algorithm) throws {
        let data = try syntheticData(sessions: 60, items: 500, seed: 11)
        let tr = try Transitions(data, length: 4)
        var params = [[[Float]]]()
        var profiles = [StepProfile?]()
        for timed in [false, true] {
            let model = SequentialRecommender(
                config: smallConfig(alg, items: data.itemCount), itemKeys: data.itemKeys,
                eventTypes: data.eventTypes, seed: 9)
            let trainer = Trainer(model: model, settings: TrainingSettings(), totalSteps: 5)
            if timed { trainer.profile = StepProfile() }
            for s in 0..<5 { try trainer.train(tr, batch: Array((s * 20)..<(s * 20 + 20))) }
            params.append(model.networks.flatMap { $0.parameters.map(\.value.storage) })
            profiles.append(trainer.profile)
        }
        #expect(params[0] == params[1])
        let p = try #require(profiles[1])
        #expect(p.steps == 5)
        #expect(p.phases.allSatisfy { $0.1 >= 0 })
        #expect(p.encoderForward > 0 && p.headForward > 0 && p.headBackward > 0 && p.encoderBackward > 0 && p.adam > 0)
        if alg.usesQ { #expect(p.qPasses > 0) }
        #expect(profiles[0] == nil)
    }
}
