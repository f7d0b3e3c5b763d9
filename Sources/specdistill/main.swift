import ArgumentParser
import SpecDistill

SpecDistillCommand.main()
