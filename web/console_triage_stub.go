package web

// TriageConsole is the triage service as the console uses it.
type TriageConsole interface{}

// RulesConsole is the rules service as the console uses it.
type RulesConsole interface{}

func (cn *Console) triageRoutes() {}

func (cn *Console) rulesRoutes() {}
