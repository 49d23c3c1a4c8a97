import Prometheus

/// Every metric the server exposes, with its `# HELP` text: one table, so a name always carries
/// the same help (the registry requires it) and docs/operations.md can be checked against it.
enum MetricCatalog: String, CaseIterable {
    // go-grpc-prometheus's server set, under its names and labels.
    case grpcStarted = "grpc_server_started_total"
    case grpcHandled = "grpc_server_handled_total"
    case grpcReceived = "grpc_server_msg_received_total"
    case grpcSent = "grpc_server_msg_sent_total"
    case grpcHandlingSeconds = "grpc_server_handling_seconds"
    // Ours.
    case scoredCustomers = "segment_scored_customers_total"
    case scoreSeconds = "segment_score_seconds"
    case scoresStoppedEarly = "segment_scores_stopped_early_total"
    case scoreStreamErrors = "segment_score_stream_errors_total"
    case uploadBytes = "segment_upload_bytes_total"
    case jobs = "segment_jobs"
    case jobsFinished = "segment_jobs_finished_total"
    case trainingSeconds = "segment_training_duration_seconds"
    case models = "segment_models"
    case versions = "segment_model_versions"
    case decodedModels = "segment_models_decoded"
    case openConnections = "segment_open_connections"
    case connectionsClosed = "segment_connections_closed_total"
    case streamsRefused = "segment_streams_refused_total"
    case driftPSI = "segment_drift_psi"
    case driftCustomers = "segment_drift_customers"
    case buildInfo = "segment_build_info"
    // The process, under the names Prometheus' client libraries use.
    case cpuSeconds = "process_cpu_seconds_total"
    case residentMemory = "process_resident_memory_bytes"
    case virtualMemory = "process_virtual_memory_bytes"
    case openFDs = "process_open_fds"
    case maximumFDs = "process_max_fds"
    case startTime = "process_start_time_seconds"

    var help: String {
        switch self {
        case .grpcStarted: "RPCs started on the server."
        case .grpcHandled: "RPCs completed on the server, regardless of success or failure."
        case .grpcReceived: "RPC stream messages received on the server."
        case .grpcSent: "gRPC stream messages sent by the server."
        case .grpcHandlingSeconds:
            "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server."
        case .scoredCustomers: "Customers scored (Score and ScoreStream), by model and version."
        case .scoreSeconds:
            "Histogram of the time one Score request took to score, by model and version."
        case .scoresStoppedEarly:
            "Large Score calls stopped part-way (cancelled or past their deadline)."
        case .scoreStreamErrors:
            "ScoreStream requests answered with a ScoreError (the stream's own status stays OK)."
        case .uploadBytes: "Dataset bytes received."
        case .jobs: "Training jobs now, queued or running."
        case .jobsFinished: "Training jobs ended: succeeded, failed or cancelled."
        case .trainingSeconds: "Histogram of succeeded training jobs' run time in seconds."
        case .models: "Models in the registry."
        case .versions: "Model versions in the registry."
        case .decodedModels: "Model versions decoded in this server's memory."
        case .openConnections: "gRPC connections open now."
        case .connectionsClosed:
            "Connections the server closed itself: over_limit, handshake_timeout or idle."
        case .streamsRefused:
            "Streams refused alone for going over --max-concurrent-streams on their connection."
        case .driftPSI:
            "Population stability index of the last 24 hours' scoring against the training data."
        case .driftCustomers:
            "Customers scored in the last 24 hours that the drift figures rest on."
        case .buildInfo: "The server's version, commit and build date (always 1)."
        case .cpuSeconds: "Total user and system CPU time spent in seconds."
        case .residentMemory: "Resident memory size in bytes."
        case .virtualMemory: "Virtual memory size in bytes."
        case .openFDs: "Number of open file descriptors."
        case .maximumFDs: "Maximum number of open file descriptors."
        case .startTime: "Start time of the process since unix epoch in seconds."
        }
    }

    var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(metricName: rawValue, unitName: "", helpText: help)
    }
}
