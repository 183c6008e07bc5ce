# cmake -DSCDOC=/usr/bin/scdoc -DIN=docs/man/stampd.8.scd -DOUT=build/man/stampd.8 -P cmake/scdoc.cmake
# One man page from its scdoc source (scdoc reads stdin and writes stdout).
execute_process(COMMAND ${SCDOC} INPUT_FILE ${IN} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "scdoc failed on ${IN}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
