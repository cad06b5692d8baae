# CLI behaviour an admin relies on (issue 9, item 6), run against the built binary.
# Included from tests/integration/CMakeLists.txt; ${pb} is config/playbooks.
set(samples ${PROJECT_SOURCE_DIR}/config/samples/opportunities.json)
set(clidata ${CMAKE_CURRENT_SOURCE_DIR}/testdata/cli)

# `dealcoach test DIR`: every playbook in the directory (not the _test.yaml files).
add_test(NAME cli_test_directory_runs_every_playbook
  COMMAND dealcoach test --root ${PROJECT_SOURCE_DIR}/config ${pb})
set_tests_properties(cli_test_directory_runs_every_playbook PROPERTIES
  PASS_REGULAR_EXPRESSION "customer-journey.yaml \\(customer-journey@[0-9]+\\).*meddicc.yaml \\(meddicc@[0-9]+\\).*[1-9][0-9]* passed, 0 failed"
  FAIL_REGULAR_EXPRESSION "FAIL |_test.yaml \\(")
# Item 7 tests are among them, by name.
add_test(NAME cli_test_directory_includes_unknown_and_no_contacts_tests
  COMMAND dealcoach test --root=${PROJECT_SOURCE_DIR}/config ${pb}/)
set_tests_properties(cli_test_directory_includes_unknown_and_no_contacts_tests PROPERTIES
  PASS_REGULAR_EXPRESSION "PASS no contacts at all gets the buying center.*PASS a champion whose sentiment is not recorded is unknown, not unmet.*PASS no contacts at all asks for the buying center"
  FAIL_REGULAR_EXPRESSION "FAIL ")
# Run from the repository (the admin's checkout), the default root is the current
# directory, so the shipped tests' ../samples is inside it.
add_test(NAME cli_test_default_root_is_the_checkout COMMAND dealcoach test config/playbooks
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(cli_test_default_root_is_the_checkout PROPERTIES
  PASS_REGULAR_EXPRESSION "[1-9][0-9]* passed, 0 failed" FAIL_REGULAR_EXPRESSION "FAIL ")
# Run from elsewhere, the root is the playbook's directory: ../samples is outside it.
add_test(NAME cli_test_refuses_files_outside_root COMMAND dealcoach test ${pb}
  WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cli_test_refuses_files_outside_root PROPERTIES
  PASS_REGULAR_EXPRESSION "opportunity_file: cannot read '../samples/opportunities.json': '[^']*' leaves the root directory")
add_test(NAME cli_test_refuses_absolute_opportunity_file
  COMMAND dealcoach test ${clidata}/abs.yaml)
set_tests_properties(cli_test_refuses_absolute_opportunity_file PROPERTIES
  PASS_REGULAR_EXPRESSION "abs_test.yaml:[0-9]+:[0-9]+: opportunity_file: cannot read '/etc/passwd': absolute paths are not allowed"
  FAIL_REGULAR_EXPRESSION "root:x:0")
add_test(NAME cli_lint_directory COMMAND dealcoach lint ${pb})
set_tests_properties(cli_lint_directory PROPERTIES
  PASS_REGULAR_EXPRESSION "customer-journey.yaml: ok.*meddicc.yaml: ok"
  FAIL_REGULAR_EXPRESSION "_test.yaml")

# An expression that starts with '-' is not a flag; `--` works too.
add_test(NAME cli_expr_negative_literal COMMAND dealcoach expr "-7 / 2")
set_tests_properties(cli_expr_negative_literal PROPERTIES PASS_REGULAR_EXPRESSION "^-3\n$")
add_test(NAME cli_expr_double_dash COMMAND dealcoach expr -- "-7.0 / 2.0")
set_tests_properties(cli_expr_double_dash PROPERTIES PASS_REGULAR_EXPRESSION "^-3.5\n$")
add_test(NAME cli_expr_negative_field COMMAND dealcoach expr "-x.y" --vars ${clidata}/xy.json)
set_tests_properties(cli_expr_negative_field PROPERTIES PASS_REGULAR_EXPRESSION "^-2.5\n$")

# Unknown flags are errors on every subcommand (exit 2, named).
foreach(cmd lint test eval expr demo serve)
  add_test(NAME cli_${cmd}_unknown_flag_is_an_error COMMAND dealcoach ${cmd} --bogus-flag x)
  set_tests_properties(cli_${cmd}_unknown_flag_is_an_error PROPERTIES
    PASS_REGULAR_EXPRESSION "unknown flag --bogus-flag")
  add_test(NAME cli_${cmd}_unknown_flag_exits_2 COMMAND dealcoach ${cmd} --bogus-flag x)
  set_tests_properties(cli_${cmd}_unknown_flag_exits_2 PROPERTIES WILL_FAIL TRUE)
endforeach()

# `--flag value` and `--flag=value` mean the same, '-' and '_' alike in names.
foreach(form "SPACE" "EQUALS")
  if(form STREQUAL "SPACE")
    set(eval_args --playbook ${pb}/customer-journey.yaml --opportunity ${samples}
      --id 006000000000006AAA --as-of 2026-11-20T12:00:00Z --max-behaviors 1
      --checklist opportunity_review --no-color)
  else()
    set(eval_args --playbook=${pb}/customer-journey.yaml --opportunity=${samples}
      --id=006000000000006AAA --as_of=2026-11-20T12:00:00Z --max_behaviors=1
      --checklist=opportunity_review --no-color)
  endif()
  add_test(NAME cli_eval_flags_${form} COMMAND dealcoach eval ${eval_args})
  # One behavior shown (the rest counted), the named checklist printed, as of the
  # fixed time (the deal's age in days comes from --as-of).
  set_tests_properties(cli_eval_flags_${form} PROPERTIES
    PASS_REGULAR_EXPRESSION "\\(\\+[0-9]+ more\\).*Review checklist \\(opportunity_review\\)")
  add_test(NAME cli_eval_json_flags_${form} COMMAND dealcoach eval ${eval_args} --json)
  set_tests_properties(cli_eval_json_flags_${form} PROPERTIES
    PASS_REGULAR_EXPRESSION "\"moreBehaviors\": [1-9][0-9]*.*\"evaluatedAt\": \"2026-11-20T12:00:00Z\"")
endforeach()
add_test(NAME cli_eval_unknown_checklist_is_an_error
  COMMAND dealcoach eval --playbook ${pb}/customer-journey.yaml --opportunity ${samples}
    --id 006000000000006AAA --checklist nope)
set_tests_properties(cli_eval_unknown_checklist_is_an_error PROPERTIES
  PASS_REGULAR_EXPRESSION "nope")

# Doubles print as CEL literals that read back as doubles.
foreach(case "1000.0|^1000.0\n$" "1e300 * 1.0|^1e\\+300\n$" "0.0 - 3.5|^-3.5\n$"
             "[1.0, 2.5]|^\\[1.0, 2.5\\]\n$" "7.0 / 7.0|^1.0\n$")
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 expression)
  list(GET parts 1 expected)
  string(MAKE_C_IDENTIFIER "${expression}" id)
  add_test(NAME cli_expr_double_${id} COMMAND dealcoach expr "${expression}")
  set_tests_properties(cli_expr_double_${id} PROPERTIES PASS_REGULAR_EXPRESSION "${expected}")
endforeach()

# --vars: plain JSON values for custom fields, and the proto3 FieldValue form.
add_test(NAME cli_expr_vars_plain_fields
  COMMAND dealcoach expr "opp.fields.decision_to_change && opp.fields.seats == 3 && opp.fields.ratio == 0.5 && opp.fields.note == 'hi'"
    --vars ${clidata}/plain_fields.json)
set_tests_properties(cli_expr_vars_plain_fields PROPERTIES PASS_REGULAR_EXPRESSION "^true\n$")
add_test(NAME cli_expr_vars_struct_fields
  COMMAND dealcoach expr "opp.fields.decision_to_change" --vars=${clidata}/struct_fields.json)
set_tests_properties(cli_expr_vars_struct_fields PROPERTIES PASS_REGULAR_EXPRESSION "^true\n$")
