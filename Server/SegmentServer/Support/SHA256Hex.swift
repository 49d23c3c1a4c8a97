import Crypto
import Foundation

extension SHA256.Digest {
    /// Lower-case hex, as dataset ids, backups and model files spell a SHA-256.
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}
