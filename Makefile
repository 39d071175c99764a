# Entry points; the work is done by scripts/ (see README.md).
.PHONY: run test stress qtest bench mutants cleanroot assemble export prune-audit kernel guest deps clean

run:            ## main job: build, boot under QEMU with an emulated IOMMU, run the demo
	scripts/run.sh
test:           ## every test; ends with 'N passed, N failed'
	scripts/test.sh
qtest:          ## QEMU's qtests of qemu/patches (make test runs them too)
	scripts/build-qemu.sh >/dev/null
	: >build/qtest-results.txt
	scripts/qtest.sh build/qtest-results.txt; rc=$$?; \
	echo "$$(grep -c '^PASS' build/qtest-results.txt) passed, $$(grep -c '^FAIL' build/qtest-results.txt) failed"; exit $$rc
stress:         ## the tests too long for make test (e2e race.long and soak.long, the largest mock variants, 10^6 fuzzer steps)
	scripts/stress.sh
bench:          ## benchmarks of dirty tracking (ratios within one run)
	scripts/bench.sh
mutants:        ## break the series on purpose (mutants/): a test must fail for each
	scripts/mutants.sh
cleanroot:      ## CI's job, cold, in a clean bookworm root (as root)
	scripts/cleanroot.sh
deps:           ## install the Debian packages the harness needs
	scripts/deps.sh
assemble:       ## build/linux = pruned base + series/ (FORCE=1 discards unexported work)
	FORCE=$(or $(FORCE),0) scripts/assemble.sh
export:         ## series/ = the commits on top of base in build/linux
	scripts/export.sh
prune-audit:    ## fail if a pruned identifier survives in the pruned base
	rm -rf build/audit && mkdir -p build/audit
	git -C build/linux archive base drivers include tools/testing/selftests/iommu Documentation | tar -x -C build/audit
	scripts/prune-audit.sh build/audit
kernel:         ## build both kernels
	scripts/build-kernel.sh x86_64 && scripts/build-kernel.sh arm64
clean:          ## remove build outputs but keep the ccache and build/linux
	rm -rf build/out build/guest build/logs build/cache build/results.txt build/timings.txt
