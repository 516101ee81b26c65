module hybridcloud.test/tools/registry

go 1.26.7

tool github.com/google/go-containerregistry/cmd/registry

require github.com/google/go-containerregistry v0.22.1 // indirect
