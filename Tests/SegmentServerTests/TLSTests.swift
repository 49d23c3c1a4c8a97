import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SegmentationAPI
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// A throwaway certificate authority made with openssl at test time (nothing secret is committed):
/// a CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and a second CA
/// that signed nothing the server knows.
struct TestPKI {
    let folder: String
    var ca: String { path("ca.pem") }
    var otherCA: String { path("other-ca.pem") }
    var serverCertificate: String { path("server.pem") }
    var serverKey: String { path("server-key.pem") }
    var clientCertificate: String { path("client.pem") }
    var clientKey: String { path("client-key.pem") }

    static let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    init(in folder: String) async throws {
        self.folder = folder
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in ["ca", "other-ca"] {
            try await run([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=\(name)",
                "-keyout", path("\(name)-key.pem"), "-out", path("\(name).pem"),
            ])
        }
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(
            toFile: path("server.ext"), atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(
            toFile: path("client.ext"), atomically: true, encoding: .utf8)
        for name in ["server", "client"] {
            try await run([
                "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)", "-keyout",
                path("\(name)-key.pem"),
                "-out", path("\(name).csr"),
            ])
            try await run([
                "x509", "-req", "-in", path("\(name).csr"), "-CA", ca, "-CAkey", path("ca-key.pem"),
                "-CAcreateserial",
                "-days", "2", "-extfile", path("\(name).ext"), "-out", path("\(name).pem"),
            ])
        }
    }

    private func path(_ name: String) -> String {
        (folder as NSString).appendingPathComponent(name)
    }

    private func run(_ arguments: [String]) async throws {
        let result = try await ProcessTests.run(Self.openssl!, arguments)
        guard result.status == 0 else {
            throw CocoaError(
                .fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: result.stderr])
        }
    }
}

@Suite("TLS and mutual TLS", .serialized, .timeLimit(.minutes(10)))
struct TLSTests {
    /// Why a client with this security cannot call the server (a real RPC, not only a handshake),
    /// or nil when it can, within `seconds`. A call expected to work gets a roomy bound: beside the
    /// whole suite on two cores, a TLS handshake in a debug build has taken more than 5 s.
    static func callFailure(
        _ port: Int, _ security: HTTP2ClientTransport.Posix.TransportSecurity,
        within seconds: Int64 = 5
    ) async -> String? {
        do {
            return try await withGRPCClient(
                transport: .http2NIOPosix(
                    target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: security,
                    config: .defaults { config in
                        config.backoff.initial = .milliseconds(50);
                        config.backoff.max = .milliseconds(100)
                    })
            ) { client in
                var options = CallOptions.defaults
                options.timeout = .seconds(seconds)
                _ = try await Services(client: client).models.listModels(.init(), options: options)
                return nil
            }
        } catch {
            return "\(error)"
        }
    }

    @Test(
        "TLS serves a client that trusts its CA; refuses plaintext and a client trusting another CA",
        .enabled(if: TestPKI.openssl != nil, "needs openssl"))
    func tls() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let pki = try await TestPKI(in: harness.dataDirectory + "-pki")
        defer { try? FileManager.default.removeItem(atPath: pki.folder) }
        try await harness.withServer(
            configure: {
                $0.tlsCertificate = pki.serverCertificate; $0.tlsKey = pki.serverKey
            },
            clientSecurity: .tls {
                $0.trustRoots = .certificates([.file(path: pki.ca, format: .pem)])
            }
        ) { services, server in
            let port = try await server.listeningPort
            #expect(try await services.models.listModels(.init()).models.isEmpty)
            #expect(await Self.callFailure(port, .plaintext) != nil)
            #expect(
                await Self.callFailure(
                    port,
                    .tls { $0.trustRoots = .certificates([.file(path: pki.otherCA, format: .pem)]) }
                ) != nil)
            // The CLI's options build the same client.
            let options = try TLSOptions.parse(["--ca", pki.ca])
            let failure = await Self.callFailure(port, try options.transportSecurity(), within: 60)
            #expect(failure == nil, "the CLI's TLS options: \(failure ?? "")")
        }
    }

    @Test(
        "Mutual TLS serves a client with a certificate from its CA; refuses one without",
        .enabled(if: TestPKI.openssl != nil, "needs openssl"))
    func mutualTLS() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let pki = try await TestPKI(in: harness.dataDirectory + "-pki")
        defer { try? FileManager.default.removeItem(atPath: pki.folder) }
        let trusted = HTTP2ClientTransport.Posix.TransportSecurity.mTLS(
            certificateChain: [.file(path: pki.clientCertificate, format: .pem)],
            privateKey: .file(path: pki.clientKey, format: .pem)
        ) { $0.trustRoots = .certificates([.file(path: pki.ca, format: .pem)]) }
        try await harness.withServer(
            configure: {
                $0.tlsCertificate = pki.serverCertificate; $0.tlsKey = pki.serverKey;
                $0.tlsClientCA = pki.ca
            }, clientSecurity: trusted
        ) { services, server in
            let port = try await server.listeningPort
            #expect(try await services.models.listModels(.init()).models.isEmpty)
            #expect(
                await Self.callFailure(
                    port,
                    .tls { $0.trustRoots = .certificates([.file(path: pki.ca, format: .pem)]) })
                    != nil)
            let options = try TLSOptions.parse([
                "--ca", pki.ca, "--cert", pki.clientCertificate, "--key", pki.clientKey,
            ])
            let failure = await Self.callFailure(port, try options.transportSecurity(), within: 60)
            #expect(failure == nil, "the CLI's TLS options: \(failure ?? "")")
        }
    }

    @Test("Half a TLS configuration is refused at start")
    func halfConfigured() throws {
        var configuration = ServerConfiguration()
        configuration.tlsCertificate = "/nonexistent.pem"
        #expect(throws: ServerSetupError.self) { try configuration.transportSecurity() }
        configuration.tlsKey = "/nonexistent-key.pem"
        #expect(throws: ServerSetupError.self) { try configuration.transportSecurity() }
        configuration = ServerConfiguration()
        configuration.tlsClientCA = "/ca.pem"
        #expect(throws: ServerSetupError.self) { try configuration.transportSecurity() }
    }
}
