package web

func (cn *Console) rulesRoutes() {}
