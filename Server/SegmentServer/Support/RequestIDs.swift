import Crypto
import Foundation
import SegmentationAPI
import SegmentationMapping
import SwiftProtobuf

/// Client request ids (AIP-155 `request_id`): checked, and the fingerprint that tells a retry
/// (same id, same request) from a reuse (same id, another request).
enum RequestIDs {
    static let maximumLength = 64

    /// nil for an empty id (no idempotency asked for); an error naming `field` for a bad one.
    static func check(_ id: String, field: String) throws -> String? {
        guard !id.isEmpty else { return nil }
        guard id.utf8.count <= maximumLength,
            id.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 })
        else {
            throw InvalidField(
                field,
                "\(field) must be 1-\(maximumLength) printable ASCII characters without spaces (e.g. a UUID)"
            )
        }
        return id
    }

    /// A digest of a training spec's bytes (deterministic serialization: equal specs, equal digests).
    static func fingerprint(_ spec: Segmentation_V1_TrainingSpec) throws -> String {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        let bytes: [UInt8] = try spec.serializedBytes(options: options)
        return SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
