import CompressNIO
import NIOCore

/// Compression on the HTTP gateway, as the gRPC port has it: a request body in gzip or deflate
/// (`Content-Encoding`) is read, its decompressed size bounded by the message limit; a reply is
/// compressed with the first of them the client's `Accept-Encoding` takes, when it is large
/// enough to gain. HTTP's "deflate" is the zlib format (RFC 9110).
enum GatewayEncoding: String, CaseIterable {
    case gzip, deflate

    /// Replies smaller than this go uncompressed (the headers alone outweigh the gain).
    static let minimumCompressedBytes = 1024

    private var algorithm: CompressionAlgorithm { self == .gzip ? .gzip() : .zlib() }

    /// The encoding a request's body is in: nil for none or `identity`. Another is UNIMPLEMENTED
    /// (HTTP 501), as the Connect protocol answers an unsupported compression.
    static func ofRequest(_ contentEncoding: String?) throws -> GatewayEncoding? {
        guard let name = contentEncoding?.trimmingWhitespace.lowercased(), name != "identity"
        else { return nil }
        guard let encoding = GatewayEncoding(rawValue: name) else {
            throw ConnectError(
                code: .unimplemented,
                message:
                    "Content-Encoding \(name) is not accepted: send gzip, deflate or the body uncompressed"
            )
        }
        return encoding
    }

    /// The encoding for a reply: the first of ours that `Accept-Encoding` lists with a weight
    /// above 0 (`gzip;q=0` refuses gzip).
    static func forReply(_ acceptEncoding: String?) -> GatewayEncoding? {
        guard let header = acceptEncoding else { return nil }
        var accepted: Set<String> = []
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { String($0).trimmingWhitespace }
            let weight =
                parts.dropFirst().first { $0.lowercased().hasPrefix("q=") }
                .map { Double($0.dropFirst(2)) ?? 0 } ?? 1
            if weight > 0, let name = parts.first { accepted.insert(name.lowercased()) }
        }
        return allCases.first { accepted.contains($0.rawValue) }
    }

    /// The body, decompressed; RESOURCE_EXHAUSTED (413) past `limit` bytes, INVALID_ARGUMENT
    /// when it is not what its encoding says.
    func decompress(_ body: ByteBuffer, limit: Int) throws -> ByteBuffer {
        var body = body
        let tooLarge = ConnectError(
            code: .resourceExhausted,
            message:
                "the request body decompresses to more than the server's message limit of \(limit) bytes",
            http: 413)
        do {
            // compress-nio stops near the limit, not at it (its buffers round up): checked again.
            let inflated = try body.decompress(with: algorithm, maxSize: limit)
            guard inflated.readableBytes <= limit else { throw tooLarge }
            return inflated
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw tooLarge
        } catch let error as ConnectError {
            throw error
        } catch {
            throw ConnectError(
                code: .invalidArgument,
                message: "the request body is not valid \(rawValue) data (Content-Encoding)")
        }
    }

    func compress(_ bytes: [UInt8]) throws -> ByteBuffer {
        var buffer = ByteBuffer(bytes: bytes)
        return try buffer.compress(with: algorithm)
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(
            drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
