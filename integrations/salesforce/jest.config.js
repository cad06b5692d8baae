// sfdx-lwc-jest's preset (lightning base component stubs, @salesforce/apex mocks).
const { jestConfig } = require("@salesforce/sfdx-lwc-jest/config");

module.exports = {
    ...jestConfig,
    modulePathIgnorePatterns: ["<rootDir>/.localdevserver"]
};
