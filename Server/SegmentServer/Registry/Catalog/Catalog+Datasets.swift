import Foundation
import SegmentationEngine

// Datasets and client request ids: the catalogue's rules, for every backend.

extension CatalogStore {
    public func insertDataset(
        _ dataset: DatasetRecord, request: ClientRequest?
    ) async throws -> Bool {
        let columns = try JSON.text(dataset.columns), files = try JSON.text(dataset.files),
            features = try JSON.text(dataset.features)
        return try await write { transaction in
            if let request { _ = try await Self.record(request, transaction) }
            return try await !transaction.rows(
                """
                INSERT INTO datasets (id, name, kind, columns_json, files_json, rows, customers, features_json, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, dataset.id, dataset.name, dataset.kind.rawValue, columns, files,
                dataset.rows, dataset.customers, features, dataset.createdAt.timeIntervalSince1970
            ).isEmpty
        }
    }

    public func dataset(id: String) async throws -> DatasetRecord? {
        try await read { transaction in
            try await transaction.rows("SELECT * FROM datasets WHERE id = ?", id).first.map(
                DatasetRecord.init(row:))
        }
    }

    public func datasets() async throws -> Listing<DatasetRecord> {
        try await read { transaction in
            Listing(
                try await transaction.rows("SELECT * FROM datasets ORDER BY created_at DESC, id"),
                DatasetRecord.init(row:))
        }
    }

    public func datasetIDs() async throws -> Set<String> {
        try await read { transaction in
            Set(try await transaction.rows("SELECT id FROM datasets").map { try $0.text("id") })
        }
    }

    public func deleteDataset(id: String, force: Bool) async throws -> [String] {
        try await write { transaction in
            guard
                try await transaction.exists(
                    "SELECT 1 FROM datasets WHERE id = ?\(transaction.forUpdate)", id)
            else {
                throw RegistryError.notFound(.dataset(id))
            }
            if try await transaction.exists(
                "SELECT 1 FROM jobs WHERE dataset_id = ? AND status IN ('queued', 'running')", id)
            {
                throw RegistryError.datasetInUse(
                    "dataset \(id.prefix(19)) is being used by a queued or running job; cancel it first"
                )
            }
            let trained = try await transaction.rows(
                "SELECT model, version FROM versions WHERE dataset_id = ? ORDER BY model, version",
                id
            ).map { "\(try $0.text("model"))@\(try $0.int("version"))" }
            if !trained.isEmpty && !force {
                throw RegistryError.datasetInUse(
                    "dataset \(id.prefix(19)) is the training data of \(trained.prefix(5).joined(separator: ", "))"
                        + (trained.count > 5 ? " and \(trained.count - 5) more" : "")
                        + "; force the delete to remove it anyway")
            }
            _ = try await transaction.rows("DELETE FROM datasets WHERE id = ?", id)
            return trained
        }
    }

    // MARK: Client request ids (idempotency)

    public func clientRequest(method: String, id: String) async throws -> ClientRequest? {
        try await read { transaction in
            try await Self.clientRequest(transaction, method: method, id: id)
        }
    }

    public func forgetClientRequest(method: String, id: String) async throws {
        try await write { transaction in
            _ = try await transaction.rows(
                "DELETE FROM requests WHERE method = ? AND request_id = ?", method, id)
        }
    }

    private static func clientRequest(
        _ transaction: any CatalogTransaction, method: String, id: String
    ) async throws -> ClientRequest? {
        let oldest = Date().timeIntervalSince1970 - ClientRequest.retention
        return try await transaction.rows(
            "SELECT * FROM requests WHERE method = ? AND request_id = ? AND created_at >= ?",
            method, id, oldest
        ).first.map(ClientRequest.init(row:))
    }

    /// Records a request (forgetting those past the retention); returns the result id of an
    /// earlier identical request instead, when there is one. Identical requests on two servers
    /// take turns (the key's lock).
    static func record(
        _ request: ClientRequest, _ transaction: any CatalogTransaction
    ) async throws -> String? {
        try await transaction.lockKey(request.method + " " + request.id)
        if let earlier = try await clientRequest(
            transaction, method: request.method, id: request.id),
            try request.isRetry(of: earlier)
        {
            return earlier.resultID
        }
        _ = try await transaction.rows(
            "DELETE FROM requests WHERE created_at < ?",
            Date().timeIntervalSince1970 - ClientRequest.retention)
        _ = try await transaction.rows(
            """
            INSERT INTO requests (method, request_id, fingerprint, result_id, created_at)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (method, request_id) DO UPDATE SET fingerprint = excluded.fingerprint,
                result_id = excluded.result_id, created_at = excluded.created_at
            """, request.method, request.id, request.fingerprint, request.resultID,
            request.createdAt.timeIntervalSince1970)
        return nil
    }
}

extension DatasetRecord {
    init(row: StoredRow) throws {
        guard let kind = InputKind(rawValue: try row.text("kind")) else {
            throw RegistryError.corrupt("unknown dataset kind")
        }
        self.init(
            id: try row.text("id"), name: try row.text("name"), kind: kind,
            columns: try row.json("columns_json"), files: try row.json("files_json"),
            rows: try row.int64("rows"), customers: try row.int64("customers"),
            features: try row.json("features_json"), createdAt: try row.date("created_at"))
    }
}

extension ClientRequest {
    init(row: StoredRow) throws {
        self.init(
            method: try row.text("method"), id: try row.text("request_id"),
            fingerprint: try row.text("fingerprint"), resultID: try row.text("result_id"),
            createdAt: try row.date("created_at"))
    }
}
