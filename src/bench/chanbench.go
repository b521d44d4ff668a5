// chanbench.go - Go's own channel on the cases make bench measures for
// the C channel (src/steps/01-channel.c), so the two can be compared in
// one run on one machine. Producers send the numbers 1..M through one
// channel to consumers, which sum them; the sum is checked.
//
//	go run src/bench/chanbench.go -capacity 64 -producers 1 -consumers 1 -messages 2000000
//
// The last line holds msgs_per_s=<number>, like the C program's.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"
)

func main() {
	capacity := flag.Int("capacity", 64, "channel capacity (0: unbuffered)")
	producers := flag.Int("producers", 1, "sending goroutines")
	consumers := flag.Int("consumers", 1, "receiving goroutines")
	messages := flag.Int("messages", 1000000, "messages in all")
	flag.Parse()

	ch := make(chan uint64, *capacity)
	sums := make([]uint64, *consumers)
	var senders, receivers sync.WaitGroup
	start := time.Now()
	for c := 0; c < *consumers; c++ {
		receivers.Add(1)
		go func(c int) {
			defer receivers.Done()
			// A local sum, stored once: consumers adding into sums[c] at
			// every message would share its cache line with each other
			// (the C programs keep theirs apart too: src/lib/traffic.c).
			var sum uint64
			for v := range ch {
				sum += v
			}
			sums[c] = sum
		}(c)
	}
	for p := 0; p < *producers; p++ {
		senders.Add(1)
		go func(p int) {
			defer senders.Done()
			for v := p + 1; v <= *messages; v += *producers {
				ch <- uint64(v)
			}
		}(p)
	}
	senders.Wait()
	close(ch)
	receivers.Wait()
	elapsed := time.Since(start).Seconds()

	var total uint64
	for _, s := range sums {
		total += s
	}
	m := uint64(*messages)
	if total != m*(m+1)/2 {
		fmt.Println("result: FAILED, the sum of the received numbers is wrong")
		os.Exit(1)
	}
	fmt.Printf("result: ok, %d messages in %.3f s, msgs_per_s=%.0f\n", *messages, elapsed, float64(*messages)/elapsed)
}
