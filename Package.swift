// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Folio",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "folio", targets: ["folio"]),
        .library(name: "FolioModels", targets: ["FolioModels"]),
        .library(name: "FolioTokenizers", targets: ["FolioTokenizers"]),
        .library(name: "FolioWeights", targets: ["FolioWeights"]),
        .library(name: "FolioTemplates", targets: ["FolioTemplates"]),
        .library(name: "FolioEngine", targets: ["FolioEngine"]),
        .library(name: "FolioGrammar", targets: ["FolioGrammar"]),
        .library(name: "FolioTools", targets: ["FolioTools"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
    ],
    targets: [
        .target(name: "CFolioKernels"),
        .target(name: "FolioKernels", dependencies: ["CFolioKernels"], swiftSettings: swiftSettings),
        .target(name: "FolioWeights", dependencies: ["CFolioKernels"], swiftSettings: swiftSettings),
        .target(name: "FolioTokenizers", dependencies: ["FolioWeights"], swiftSettings: swiftSettings),
        .target(name: "FolioTemplates", dependencies: ["FolioWeights"], swiftSettings: swiftSettings),
        .target(name: "FolioGrammar", dependencies: ["FolioWeights"], swiftSettings: swiftSettings),
        // Tool-call and reasoning parsers (vLLM's `--tool-call-parser` / `--reasoning-parser`), and their streaming.
        .target(name: "FolioTools", dependencies: ["FolioWeights", "FolioTemplates"], swiftSettings: swiftSettings),
        .target(name: "FolioEngine", dependencies: ["CFolioKernels", "FolioGrammar", "FolioModels", "FolioTokenizers", "FolioTemplates", "FolioWeights", "FolioKernels"],
                swiftSettings: swiftSettings),
        .target(name: "FolioOpenAI", dependencies: ["FolioEngine", "FolioGrammar", "FolioTemplates", "FolioTools", "FolioWeights"],
                swiftSettings: swiftSettings),
        .target(name: "FolioServer",
                dependencies: ["CFolioKernels", "FolioOpenAI", "FolioEngine", "FolioGrammar", "FolioTools", "FolioWeights", .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                               .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                               // The data-parallel front's HTTP client to its replicas (over Unix sockets).
                               .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                               .product(name: "NIOHTTP1", package: "swift-nio")],
                // The chat page at / (plain HTML/CSS/JS, compiled into the binary: no files or network at runtime).
                resources: ["index.html", "chat.css", "chat.js", "markdown.js"].map { .embedInCode("WebUI/\($0)") },
                swiftSettings: swiftSettings),
        .target(name: "FolioModels",
                dependencies: ["FolioWeights", "FolioKernels", "FolioTokenizers"], swiftSettings: swiftSettings),
        .executableTarget(name: "folio",
                          dependencies: ["FolioServer", "FolioOpenAI", "FolioEngine", "FolioModels", "FolioTokenizers", "FolioWeights", "FolioTools",
                                         "FolioTemplates", .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: swiftSettings),
        .target(name: "FolioTestSupport", dependencies: ["FolioWeights", "FolioModels"], path: "Tests/FolioTestSupport", swiftSettings: swiftSettings),
        .testTarget(name: "FolioWeightsTests", dependencies: ["FolioTestSupport", "FolioWeights", "CFolioKernels", "FolioKernels"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "FolioTokenizersTests", dependencies: ["FolioTestSupport", "FolioTokenizers", "FolioWeights"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "FolioTemplatesTests", dependencies: ["FolioTestSupport", "FolioTemplates", "FolioWeights"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "FolioGrammarTests", dependencies: ["FolioTestSupport", "FolioGrammar", "FolioModels", "FolioTokenizers", "FolioWeights"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "FolioToolsTests", dependencies: ["FolioTestSupport", "FolioTools", "FolioTokenizers", "FolioWeights"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "FolioEngineTests", dependencies: ["FolioTestSupport", "FolioEngine", "FolioGrammar", "FolioModels", "FolioTokenizers", "FolioWeights"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "FolioServerTests", dependencies: ["FolioServer"], swiftSettings: swiftSettings),
        .testTarget(name: "FolioModelsTests", dependencies: ["FolioTestSupport", "FolioModels", "FolioTokenizers", "FolioWeights", "CFolioKernels"],
                    swiftSettings: swiftSettings),
    ]
)
