package combine

// Version is the build's version, set with -ldflags "-X github.com/thecombine/combine.Version=…".
var Version = "dev"
