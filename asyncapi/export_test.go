package asyncapi

// TokenList is tokenList, for the tests.
const TokenList = tokenList
