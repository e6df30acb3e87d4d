import Foundation
import RecCore
import RecNN
import RecOPE
import RecRL
import Testing

@Suite struct ModelConfigCompatibilityTests {
    /// New models use the authors' block (no attention output projection, dropout after both
    /// FFN layers); a checkpoint config written before those fields existed rebuilds the block
    /// it was trained with (a projection, no output dropout), so its tensors still all load.
    @Test func legacyConfigsKeepTheirArchitecture() throws {
        let fresh = ModelConfig(items: 20)
        #expect(fresh.attentionOutputProjection == false && fresh.ffnOutputDropout == true)
        let freshNames = QNetwork(fresh, seed: 1).parameters.map(\.name)
        #expect(!freshNames.contains { $0.contains("attn.out") })
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(fresh)) as! [String: Any]
        json.removeValue(forKey: "attentionOutputProjection")
        json.removeValue(forKey: "ffnOutputDropout")
        let legacy = try JSONDecoder().decode(ModelConfig.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(legacy.attentionOutputProjection == nil)
        #expect(QNetwork(legacy, seed: 1).parameters.contains { $0.name.contains("attn.out.weight") })
    }
}
