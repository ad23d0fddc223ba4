from farl_bench.cli import main

main()
