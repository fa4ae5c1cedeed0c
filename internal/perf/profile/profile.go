// Package profile gives the performance servers their profiling flags:
// a CPU profile of the whole run, and a heap profile, with the runtime's
// memory figures logged, on SIGUSR1.
package profile

import (
	"flag"
	"log"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// Flags are the profiling flags.
type Flags struct {
	cpu, mem *string
}

// Register defines -cpuprofile and -memprofile on fs.
func Register(fs *flag.FlagSet) *Flags {
	return &Flags{
		cpu: fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file"),
		mem: fs.String("memprofile", "", "write a heap profile to this file on SIGUSR1"),
	}
}

// Start starts what the flags ask for; the returned function stops the
// CPU profile and must run before the program exits.
func (f *Flags) Start() (stop func()) {
	if *f.mem != "" {
		// Sample every 512 bytes rather than every 512 KiB, so that the
		// per-connection figures are exact enough to compare servers.
		runtime.MemProfileRate = 512
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() {
			for range usr1 {
				if err := WriteHeap(*f.mem); err != nil {
					log.Print(err)
				}
			}
		}()
	}
	if *f.cpu == "" {
		return func() {}
	}
	out, err := os.Create(*f.cpu)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		log.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = out.Close()
	}
}

// WriteHeap logs the runtime's memory figures and writes the live heap,
// after a collection, to file.
func WriteHeap(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	log.Printf("heap in use %d KiB, heap idle %d KiB (released %d KiB), stacks %d KiB, other runtime %d KiB, goroutines %d",
		ms.HeapInuse>>10, ms.HeapIdle>>10, ms.HeapReleased>>10, ms.StackInuse>>10, (ms.Sys-ms.HeapSys-ms.StackSys)>>10, runtime.NumGoroutine())
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
