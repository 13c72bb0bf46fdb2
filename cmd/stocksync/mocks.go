package main

import (
	"fmt"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
)

// channelEndpoints turns the channels' endpoint settings into adapter
// configs, starting a mock marketplace for each channel that asks for one
// (it behaves like the real API, limits and unpleasant answers included).
func channelEndpoints(channels []config.Channel) (map[string]marketplace.Config, map[string]*mock.Server, error) {
	endpoints := map[string]marketplace.Config{}
	mocks := map[string]*mock.Server{}
	fail := func(err error) (map[string]marketplace.Config, map[string]*mock.Server, error) {
		for _, s := range mocks {
			s.Close()
		}
		return nil, nil, err
	}
	for _, c := range channels {
		if !c.Endpoint.Mock {
			key, err := c.Endpoint.APIKey()
			if err != nil {
				return fail(fmt.Errorf("channel %s: %w", c.Name, err))
			}
			endpoints[c.Name] = marketplace.Config{BaseURL: c.Endpoint.URL, Token: key, ClientID: c.Endpoint.ClientID,
				WarehouseID: c.Endpoint.WarehouseID, CampaignID: c.Endpoint.CampaignID, Channel: c.Name}
			continue
		}
		var s *mock.Server
		switch c.Marketplace {
		case marketplace.KindOzon:
			s = mock.NewOzon()
		case marketplace.KindWildberries:
			s = mock.NewWildberries()
		case marketplace.KindYandex:
			s = mock.NewYandex()
		case marketplace.KindWebhook:
			s = mock.NewWebhook()
		default:
			return fail(fmt.Errorf("channel %s: no mock for marketplace %q", c.Name, c.Marketplace))
		}
		mocks[c.Name] = s
		cfg := s.Config()
		cfg.Channel = c.Name
		endpoints[c.Name] = cfg
	}
	return endpoints, mocks, nil
}
