import Testing
@testable import RecRL
