import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import SegmentationAPI
import SegmentationCodec
import SegmentationMapping
import ServiceLifecycle

/// Everything the server is configured with.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port = 50051
    public var dataDirectory = "./segmentation-data"
    /// This server among the replicas of a shared registry, recorded on the jobs it runs; each
    /// replica needs its own. nil: the host name and the data directory's path (the same across
    /// restarts).
    public var replicaID: String?
    /// Where datasets live when several servers share them (a directory every replica reads and
    /// writes: one disk, or NFS); nil: `<dataDirectory>/datasets`, this server's own.
    public var datasetsDirectory: String?
    public var maximumConcurrentJobs = 1
    /// Jobs waiting to run; more are refused with RESOURCE_EXHAUSTED.
    public var maximumQueuedJobs = 100
    /// Largest dataset upload accepted.
    public var maximumUploadBytes: Int64 = 2 << 30
    /// Largest total of all stored datasets.
    public var maximumDatasetBytes: Int64 = 20 << 30
    /// Largest single request message (a Score batch, an upload chunk): larger ones are refused
    /// with RESOURCE_EXHAUSTED. The transport itself resets streams whose message passes four
    /// times this (it must buffer a message before we can refuse it).
    public var maximumMessageBytes = 16 << 20
    /// After SIGTERM/SIGINT: how long calls and streams in flight may take to finish before what
    /// is left is cancelled (`--drain-seconds`).
    public var drainSeconds = 20
    /// Concurrent calls (HTTP/2 streams) per connection (`--max-concurrent-streams`).
    public var maximumConcurrentStreams = 100
    /// Seconds a connection may stay open with no call before it is closed (`--idle-timeout`).
    public var idleTimeoutSeconds = 300
    /// Connections open at once (`--max-connections`); more are closed as they are accepted.
    public var maximumConnections = 1_000
    /// Seconds from accepting a connection to its first HTTP/2 bytes, the TLS handshake included
    /// (`--handshake-timeout`).
    public var handshakeTimeoutSeconds = 10
    /// Largest header list (metadata) of one call, in bytes as HTTP/2 counts them (name + value +
    /// 32 per entry) (`--max-header-bytes`); a larger one fails that call alone with
    /// RESOURCE_EXHAUSTED. Lists up to 64 KiB are decoded to tell (the size advertised in SETTINGS);
    /// past that the connection goes.
    public var maximumHeaderBytes = 16 << 10
    /// Decoded models kept in memory, in bytes of serialized model (LRU).
    public var modelCacheBytes = 512 << 20
    /// What a training spec and a dataset may ask for.
    public var limits = TrainingLimits()
    /// `role:sha256-hex` lines (--auth-tokens); nil: no authentication (loopback only, unless
    /// `allowInsecure`).
    public var tokensFile: String?
    /// The shared PostgreSQL registry (--registry); nil: the embedded SQLite registry in the data
    /// directory.
    public var postgres: PostgresSettings?
    /// Listen on a non-loopback address without tokens (--insecure).
    public var allowInsecure = false
    /// PEM certificate chain and private key (--tls-cert, --tls-key): TLS instead of plaintext.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// PEM CA whose certificates clients must present (--tls-client-ca): mutual TLS.
    public var tlsClientCA: String?
    /// Port of the plain-HTTP Prometheus endpoint, on `host` (--metrics-port); nil: off; 0: any free port.
    public var metricsPort: Int?
    /// Port of the HTTP/JSON gateway, on `host` (--http-port); nil: off; 0: any free port.
    public var httpPort: Int?
    /// Where spans go, an OTLP/gRPC collector's URL (--otlp-endpoint, http:// or https://);
    /// nil: calls are not traced (their log lines still carry the caller's trace id).
    public var otlpEndpoint: String?
    /// How often the registry is probed; health is NOT_SERVING while the probe fails.
    public var registryProbeInterval: Duration = .seconds(5)
    /// A probe not answered within this counts as failed.
    public var registryProbeTimeout: Duration = .seconds(2)
    /// How many probes in a row must fail before health turns NOT_SERVING (one slow answer on a
    /// busy machine is not an outage).
    public var registryProbeFailures = 2
    /// How soon a probe follows a failed one (at most `registryProbeInterval`).
    public var registryProbeRetry: Duration = .seconds(1)
    /// How often what scoring saw is added to the registry's drift windows (and at shutdown).
    public var driftFlushInterval: Duration = .seconds(10)
    /// Whether scoring counts what it sees for drift (--no-drift turns it off).
    public var measureDrift = true
    /// Bounds of live stores (--live-*).
    public var live = LiveLimits()
    /// How often the live stores' time pass runs, and drops moves older than the feed keeps.
    public var livePassInterval: Duration = .seconds(1)
    public var liveTrimInterval: Duration = .seconds(60)

    /// Plaintext, TLS, or mutual TLS, as configured.
    func transportSecurity() throws -> HTTP2ServerTransport.Posix.TransportSecurity {
        switch (tlsCertificate, tlsKey) {
        case (nil, nil):
            guard tlsClientCA == nil else {
                throw ServerSetupError("--tls-client-ca needs --tls-cert and --tls-key")
            }
            return .plaintext
        case (let certificate?, let key?):
            for (flag, path) in [("--tls-cert", certificate), ("--tls-key", key)]
                + (tlsClientCA.map { [("--tls-client-ca", $0)] } ?? [])
            where !FileManager.default.isReadableFile(atPath: path) {
                throw ServerSetupError("\(flag) \(path) cannot be read")
            }
            let chain: [TLSConfig.CertificateSource] = [.file(path: certificate, format: .pem)]
            let privateKey = TLSConfig.PrivateKeySource.file(path: key, format: .pem)
            guard let ca = tlsClientCA else {
                return .tls(certificateChain: chain, privateKey: privateKey)
            }
            return .mTLS(certificateChain: chain, privateKey: privateKey) { tls in
                tls.trustRoots = .certificates([.file(path: ca, format: .pem)])
                // Client certificates name people or services, not hosts: the chain is checked, not a host name.
                tls.clientCertificateVerification = .noHostnameVerification
            }
        default:
            throw ServerSetupError("TLS needs both --tls-cert and --tls-key")
        }
    }

    public init() {}

    /// `replicaID`, or the host name and the data directory's absolute path.
    public var effectiveReplicaID: String {
        if let replicaID { return replicaID }
        let path = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        return "\(ProcessInfo.processInfo.hostName):\(path)"
    }
}
